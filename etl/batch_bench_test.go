package etl

import (
	"strconv"
	"strings"
	"testing"
)

// BenchmarkBatchRepresentation compares three ways to hold a batch for the
// typical work of a leads pipeline: fill 10,000 rows of 4 string fields,
// lower-case one, cast one to int, and drop rows by a predicate. Column
// vectors are what etl uses; rows of []any and a map per row are the
// alternatives DESIGN rules out, measured here to keep the choice honest.
func BenchmarkBatchRepresentation(b *testing.B) {
	const n = 10_000
	emails := make([]string, n)
	scores := make([]string, n)
	for i := range emails {
		emails[i] = "User" + strconv.Itoa(i) + "@Example.com"
		scores[i] = strconv.Itoa(i % 101)
	}
	schema := MustSchema(Field{Name: "id", Type: TypeString}, Field{Name: "email", Type: TypeString}, Field{Name: "score", Type: TypeString}, Field{Name: "source", Type: TypeString})

	b.Run("columns", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bt := NewBatch(schema, n)
			for i := range n {
				bt.Cols[0].AppendString(scores[i])
				bt.Cols[1].AppendString(emails[i])
				bt.Cols[2].AppendString(scores[i])
				bt.Cols[3].AppendString("chatbot")
				bt.Origins = append(bt.Origins, Origin{File: "x.csv", Line: int64(i + 2)})
			}
			email := &bt.Cols[1]
			for i, s := range email.Str {
				email.Str[i] = strings.ToLower(s)
			}
			score := NewColumn(TypeInt, n)
			for _, s := range bt.Cols[2].Str {
				v, _ := strconv.ParseInt(s, 10, 64)
				score.AppendInt(v)
			}
			bt.Cols[2] = score
			keep := make([]bool, n)
			for i, v := range score.Int {
				keep[i] = v >= 50
			}
			bt.Keep(keep)
		}
	})
	b.Run("rows-of-any", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rows := make([][]any, 0, n)
			for i := range n {
				rows = append(rows, []any{scores[i], emails[i], scores[i], "chatbot"})
			}
			for _, r := range rows {
				r[1] = strings.ToLower(r[1].(string))
				v, _ := strconv.ParseInt(r[2].(string), 10, 64)
				r[2] = v
			}
			out := rows[:0]
			for _, r := range rows {
				if r[2].(int64) >= 50 {
					out = append(out, r)
				}
			}
		}
	})
	b.Run("map-per-row", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rows := make([]map[string]any, 0, n)
			for i := range n {
				rows = append(rows, map[string]any{"id": scores[i], "email": emails[i], "score": scores[i], "source": "chatbot"})
			}
			for _, r := range rows {
				r["email"] = strings.ToLower(r["email"].(string))
				v, _ := strconv.ParseInt(r["score"].(string), 10, 64)
				r["score"] = v
			}
			out := rows[:0]
			for _, r := range rows {
				if r["score"].(int64) >= 50 {
					out = append(out, r)
				}
			}
		}
	})
}
