package transforms

import (
	"context"
	"fmt"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
)

const benchRows = 100_000

// cloneBatch copies b's vectors so a step that works in place can run on
// the same input again.
func cloneBatch(b *etl.Batch) *etl.Batch {
	c := &etl.Batch{Schema: b.Schema, Cols: make([]etl.Column, len(b.Cols)), Origins: append([]etl.Origin(nil), b.Origins...)}
	for i, col := range b.Cols {
		c.Cols[i] = etl.Column{
			Type: col.Type, Null: append([]bool(nil), col.Null...), Str: append([]string(nil), col.Str...),
			Int: append([]int64(nil), col.Int...), Float: append([]float64(nil), col.Float...),
			Bool: append([]bool(nil), col.Bool...), Time: col.Time, JSON: col.JSON,
		}
	}
	return c
}

func BenchmarkCast(b *testing.B) {
	cases := []struct {
		name  string
		rule  string
		value func(i int) string
	}{
		{"int", "int", func(i int) string { return fmt.Sprint(i * 7919) }},
		{"float", "float", func(i int) string { return fmt.Sprintf("%d.%02d", i, i%100) }},
		{"timestamp_rfc3339", "timestamp", func(i int) string {
			return fmt.Sprintf("2024-03-%02dT10:%02d:%02d.123+02:00", i%28+1, i%60, i%59)
		}},
		{"timestamp_tz", "{ type: timestamp, tz: Europe/Berlin }", func(i int) string {
			return fmt.Sprintf("2024-03-%02d 10:%02d:%02d", i%28+1, i%60, i%59)
		}},
		{"timestamp_layout", `{ type: timestamp, layout: "02/01/2006 15:04" }`, func(i int) string {
			return fmt.Sprintf("%02d/03/2024 10:%02d", i%28+1, i%60)
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			step, err := buildStep(&testing.T{}, "cast: { v: "+tc.rule+" }")
			if err != nil {
				b.Fatal(err)
			}
			schema := etl.MustSchema(etl.Field{Name: "v", Type: etl.TypeString})
			in := etl.NewBatch(schema, benchRows)
			for i := 0; i < benchRows; i++ {
				in.Cols[0].AppendString(tc.value(i))
				in.Origins = append(in.Origins, etl.Origin{File: "in.csv", Line: int64(i + 2)})
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				// cast leaves its input column alone: a shallow batch will do.
				batch := &etl.Batch{Schema: schema, Cols: []etl.Column{in.Cols[0]}, Origins: in.Origins}
				out, err := step.Apply(ctx, batch)
				if err != nil || len(out.Rejects) != 0 {
					b.Fatalf("err %v, rejects %d", err, len(out.Rejects))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
		})
	}
}

func BenchmarkFilter(b *testing.B) {
	benchExprStep(b, "filter: '%s'", []struct{ name, expr string }{
		{"string_and_int", `tier != "spam" && score >= 50`},
		{"int_only", `score >= 50`},
		{"helper", `lower(tier) == "hot"`},
	}, func(out *etl.Batch) bool { return out.Len() > 0 })
}

// benchExprStep measures a step built from format with each case's
// expression, over benchRows leads (email, score, tier), on a fresh copy
// of them each time; ok checks the output. allocs/op is per batch.
func benchExprStep(b *testing.B, format string, cases []struct{ name, expr string }, ok func(*etl.Batch) bool) {
	schema := etl.MustSchema(
		etl.Field{Name: "email", Type: etl.TypeString},
		etl.Field{Name: "score", Type: etl.TypeInt},
		etl.Field{Name: "tier", Type: etl.TypeString},
	)
	in := etl.NewBatch(schema, benchRows)
	tiers := []string{"hot", "cold", "spam", "Hot"}
	for i := 0; i < benchRows; i++ {
		in.Cols[0].AppendString(fmt.Sprintf("user%d@example.com", i))
		in.Cols[1].AppendInt(int64(i % 1000))
		in.Cols[2].AppendString(tiers[i%len(tiers)])
		in.Origins = append(in.Origins, etl.Origin{File: "in.csv", Line: int64(i + 2)})
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			step, err := buildStep(&testing.T{}, fmt.Sprintf(format, tc.expr))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				batch := cloneBatch(in)
				b.StartTimer()
				out, err := step.Apply(ctx, batch)
				if err != nil || len(out.Rejects) != 0 || !ok(out) {
					b.Fatalf("err %v, rejects %d, rows %d", err, len(out.Rejects), out.Len())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
		})
	}
}

// BenchmarkTextSteps measures the in-place string steps; allocs/op is per
// batch of benchRows rows, so anything below benchRows is less than one
// allocation per row.
func BenchmarkTextSteps(b *testing.B) {
	cases := []struct{ name, step string }{
		{"rename", `rename: { v: value }`},
		{"trim", `trim: [v]`},
		{"lower", `lower: [v]`},
		{"upper", `upper: [v]`},
	}
	schema := etl.MustSchema(etl.Field{Name: "v", Type: etl.TypeString})
	in := etl.NewBatch(schema, benchRows)
	for i := 0; i < benchRows; i++ {
		in.Cols[0].AppendString(fmt.Sprintf("  User%d@Example.COM ", i))
		in.Origins = append(in.Origins, etl.Origin{File: "in.csv", Line: int64(i + 2)})
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			step, err := buildStep(&testing.T{}, tc.step)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				batch := cloneBatch(in)
				b.StartTimer()
				if _, err := step.Apply(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
		})
	}
}

// BenchmarkSet measures set building strings, numbers and nested values
// (a nested value reads its cells boxed afresh: newKeptExprEvaluator).
func BenchmarkSet(b *testing.B) {
	benchExprStep(b, "set: { out: '%s' }", []struct{ name, expr string }{
		{"string", `email + ":" + tier`},
		{"int", `score * 2`},
		{"map", `{"who": email, "n": score}`},
		{"list", `[email, score]`},
	}, func(out *etl.Batch) bool { return out.Len() == benchRows })
}
