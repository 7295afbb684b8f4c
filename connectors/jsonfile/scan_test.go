package jsonfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// decodeLine decodes one line alone: its row (key → value as encoding/json
// with UseNumber would give it), or the reject's reason.
func decodeLine(t *testing.T, line []byte) (map[string]any, string) {
	t.Helper()
	d, err := NewDecoder(bytes.NewReader(line), fileformat.DecodeOptions{File: "f.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(context.Background(), 10)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("%q: err = %v, want io.EOF", line, err)
	}
	if len(b.Rejects) > 0 {
		return nil, b.Rejects[0].Reason
	}
	if b.Len() != 1 {
		t.Fatalf("%q: %d rows", line, b.Len())
	}
	if err := b.Check(); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	row := make(map[string]any)
	for j, f := range b.Schema.Fields() {
		c := b.Cols[j]
		switch v := c.Value(0); {
		case v == nil:
			row[f.Name] = nil
		case c.Type == etl.TypeInt:
			row[f.Name] = json.Number(strconv.FormatInt(c.Int[0], 10))
		case c.Type == etl.TypeFloat:
			row[f.Name] = c.Float[0]
		default:
			row[f.Name] = v
		}
	}
	return row, ""
}

// checkLine decodes line with the decoder and with encoding/json and
// compares: the same rows (keys, types, values), the same rejects.
func checkLine(t *testing.T, line []byte) {
	t.Helper()
	if bytes.ContainsAny(line, "\n\r") || len(bytes.TrimSpace(line)) == 0 {
		return // one line, not blank: the reader's business, tested apart
	}
	got, reason := decodeLine(t, line)
	wantReason := ""
	if !json.Valid(line) {
		var v any
		wantReason = "line 1: " + json.Unmarshal(line, &v).Error()
	} else if p := skipSpace(line, 0); line[p] != '{' {
		wantReason = "line 1: not a JSON object"
	}
	if wantReason != "" {
		if reason != wantReason {
			t.Fatalf("%q: reject %q, want %q", line, reason, wantReason)
		}
		return
	}
	var want map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	for k, v := range want { // as the decoder types them
		if k == "" {
			return // an empty key is renamed col_N: TestDecodeSparseAndDuplicateKeys
		}
		if n, ok := v.(json.Number); ok && !strings.ContainsAny(string(n), ".eE") {
			if i, err := n.Int64(); err == nil {
				want[k] = json.Number(strconv.FormatInt(i, 10)) // -0 is 0
				continue
			}
		}
		if n, ok := v.(json.Number); ok {
			f, err := n.Float64()
			if err != nil {
				if want := fmt.Sprintf("line 1: field %q: number %s out of range", k, n); !strings.HasPrefix(reason, "line 1: field ") {
					t.Fatalf("%q: reject %q, want like %q", line, reason, want)
				}
				return
			}
			want[k] = f
		}
	}
	if reason != "" && strings.HasSuffix(reason, "levels (json.max_depth)") && nesting(line) > fileformat.DefaultMaxDepth {
		return
	}
	if reason != "" {
		// A repeated key's out-of-range number rejects the line even if a
		// later value replaces it, as encoding/json's map would.
		var key, num string
		if _, err := fmt.Sscanf(reason, "line 1: field %q: number %s out of range", &key, &num); err == nil {
			if _, err := json.Number(num).Float64(); err != nil && bytes.Contains(line, []byte(num)) {
				return
			}
		}
		t.Fatalf("%q: rejected (%s), encoding/json accepts it", line, reason)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%q (-encoding/json +decoder):\n%s", line, diff)
	}
}

// randomLine writes a JSON object of random keys and values, sometimes
// broken: escapes, surrogates, invalid UTF-8, numbers at the edges,
// nesting, odd whitespace.
func randomLine(rng *rand.Rand) []byte {
	var b bytes.Buffer
	str := func() {
		b.WriteByte('"')
		for range rng.IntN(6) {
			b.WriteString([]string{"a", "é", "😀", `\"`, `\\`, `\/`, `\n`, `\t`, `\u00e9`, `\ud83d\ude00`,
				`\ud83d`, `\udc00x`, `\ud83d\u0041`, "\xff", "\xed\xa0\x80", "{", "]", ",", ":", " "}[rng.IntN(20)])
		}
		b.WriteByte('"')
	}
	var value func(depth int)
	value = func(depth int) {
		switch rng.IntN(8) {
		case 0:
			str()
		case 1:
			b.WriteString([]string{"0", "-0", "12", "-7", "9223372036854775807", "9223372036854775808",
				"-9223372036854775808", "123456789012345678901234", "1.5", "-0.25e3", "1E400", "1e-400", "2E+2"}[rng.IntN(13)])
		case 2:
			b.WriteString([]string{"true", "false", "null"}[rng.IntN(3)])
		case 3, 4:
			if depth > 2 {
				str()
				return
			}
			b.WriteByte('[')
			for i := range rng.IntN(3) {
				if i > 0 {
					b.WriteByte(',')
				}
				value(depth + 1)
			}
			b.WriteByte(']')
		case 5:
			if depth > 2 {
				b.WriteString("1")
				return
			}
			b.WriteByte('{')
			for i := range rng.IntN(3) {
				if i > 0 {
					b.WriteByte(',')
				}
				str()
				b.WriteByte(':')
				value(depth + 1)
			}
			b.WriteByte('}')
		default:
			str()
		}
	}
	b.WriteString([]string{"{", " {", "{\t"}[rng.IntN(3)])
	for i := range rng.IntN(5) {
		if i > 0 {
			b.WriteString([]string{",", " , ", ",\t"}[rng.IntN(3)])
		}
		if rng.IntN(3) == 0 {
			str()
		} else {
			fmt.Fprintf(&b, `"k%d"`, rng.IntN(4))
		}
		b.WriteString([]string{":", " : "}[rng.IntN(2)])
		value(0)
	}
	b.WriteString([]string{"}", "} ", "}\t"}[rng.IntN(3)])
	line := b.Bytes()
	if rng.IntN(4) == 0 { // break it somewhere
		i := rng.IntN(len(line))
		switch rng.IntN(3) {
		case 0:
			line = line[:i]
		case 1:
			line = append(line[:i:i], line[i+1:]...)
		default:
			line = append(line[:i:i], append([]byte{"x\"{}[],:\\\x01"[rng.IntN(10)]}, line[i:]...)...)
		}
	}
	return line
}

// TestDecoderMatchesEncodingJSON compares the decoder with encoding/json on
// generated lines, valid and broken.
func TestDecoderMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		line := randomLine(rng)
		t.Run(strconv.Itoa(i), func(t *testing.T) { checkLine(t, line) })
	}
}

// TestStringsMatchEncodingJSON compares the decoder with encoding/json on
// lines of string values of every length around the scanner's 8-byte step,
// built from plain bytes with now and then a byte the step must stop at:
// a quote, a backslash (escapes, valid or not), a control byte, UTF-8 and
// bytes that are not UTF-8, and bytes next to them in value.
func TestStringsMatchEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	plain := []byte("a!#[]{}:,0~ \x7f\x1f\x21\x5b\x5d")
	special := []string{`"`, `\"`, `\\`, `\n`, `\u00e9`, `\u0000`, `\x`, `\u12`, "\x00", "\x01", "\x1f", "é", "\xe9", "\xff", "\xc3", "€"}
	for i := range 3000 {
		var v []byte
		for range rng.IntN(40) {
			if rng.IntN(12) == 0 {
				v = append(v, special[rng.IntN(len(special))]...)
			} else {
				v = append(v, plain[rng.IntN(len(plain))])
			}
		}
		line := []byte(`{"k` + strconv.Itoa(i%3) + `":"` + string(v) + `","n":"` + string(v[:len(v)/2]) + `"}`)
		t.Run(strconv.Itoa(i), func(t *testing.T) { checkLine(t, line) })
	}
}

// FuzzDecoder compares the decoder with encoding/json on one line.
func FuzzDecoder(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		f.Add(randomLine(rng))
	}
	for _, s := range []string{`{}`, `{"a":1,"a":"x"}`, `{"a":[1,{"b":"}"}]}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`,
		`{"a":tru}`, `{"a":nul}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{"a":1} x`, `[1]`, `"s"`, `{"\u0000":"\x7f"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) { checkLine(t, line) })
}

// decodeAll decodes in as one checked batch.
func decodeAll(t *testing.T, in string) *etl.Batch {
	t.Helper()
	d, err := NewDecoder(strings.NewReader(in), fileformat.DecodeOptions{File: "x.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(context.Background(), 10)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want io.EOF with the last batch", err)
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeRejectKeepsBatch checks that a line rejected half-way leaves
// no trace: no field of its own, no kinds, no values.
func TestDecodeRejectKeepsBatch(t *testing.T) {
	in := `{"a":1,"b":"x"}` + "\n" + `{"b":true,"c":2,"a":"y",` + "\n" + `{"a":2,"b":"z"}` + "\n"
	b := decodeAll(t, in)
	want := etl.MustSchema(etl.Field{Name: "a", Type: etl.TypeInt}, etl.Field{Name: "b", Type: etl.TypeString})
	if !b.Schema.Equal(want) || len(b.Rejects) != 1 {
		t.Fatalf("schema %v, %d rejects; want %v and 1", b.Schema, len(b.Rejects), want)
	}
	if !cmp.Equal(b.Cols[0].Int, []int64{1, 2}) || !cmp.Equal(b.Cols[1].Str, []string{"x", "z"}) {
		t.Errorf("rows %v %v", b.Cols[0].Int, b.Cols[1].Str)
	}
}

// TestDecodeSparseAndDuplicateKeys checks keys missing from some rows,
// keys in changing order, a repeated key (the last wins) and an empty key.
func TestDecodeSparseAndDuplicateKeys(t *testing.T) {
	in := strings.Join([]string{
		`{"a":1,"b":"x"}`,
		`{"b":"y","a":2}`,
		`{"c":1.5,"a":3,"a":4}`,
		`{"":"e","col_4":"f"}`,
	}, "\n")
	b := decodeAll(t, in)
	var got [][]any
	for i := range b.Len() {
		var row []any
		for j := range b.Cols {
			row = append(row, b.Cols[j].Value(i))
		}
		got = append(got, row)
	}
	want := [][]any{
		{int64(1), "x", nil, nil, nil},
		{int64(2), "y", nil, nil, nil},
		{int64(4), nil, 1.5, nil, nil},
		{nil, nil, nil, "e", "f"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if names := b.Schema.Names(); !cmp.Equal(names, []string{"a", "b", "c", "col_4_", "col_4"}) {
		t.Errorf("names %v", names)
	}
}

// jsonlLeads renders the CSV leads of the csvfile benchmark as JSON Lines,
// all values strings, as bench/files.sh does.
func jsonlLeads(n int) []byte {
	rng := rand.New(rand.NewPCG(5, 5))
	sources := []string{"chatbot", "webform", "import", "event"}
	var buf bytes.Buffer
	for i := range n {
		email := fmt.Sprintf("user%d@example.com", i)
		if i%10 == 0 {
			email = fmt.Sprintf("  User%d@Example.com ", i)
		}
		notes := "none"
		if i%5 == 0 {
			notes = fmt.Sprintf("asked about pricing, plan %d\\nfollow up \\\"soon\\\"", i%7)
		}
		fmt.Fprintf(&buf, `{"id": "%d", "email": "%s", "first_name": "First%d", "last_name": "Last%d", "company": "Company %d, Inc.", `+
			`"phone": "+1-415-555-%04d", "source": "%s", "score": "%d", "created_at": "2026-11-%02dT%02d:15:00Z", "notes": "%s"}`+"\n",
			i, email, i%1000, i%3001, i%997, i%10000, sources[i%4], rng.IntN(101), 1+i%28, i%24, notes)
	}
	return buf.Bytes()
}

// BenchmarkJSONLRead decodes 100k leads lines in batches of
// etl.DefaultBatchSize, keeping every batch ("kept") or releasing each
// once decoded, as a run does once its targets are done with it
// (etl.Releaser): later batches then reuse its vectors.
func BenchmarkJSONLRead(b *testing.B) {
	b.Run("kept", func(b *testing.B) { benchmarkJSONLRead(b, false) })
	b.Run("released", func(b *testing.B) { benchmarkJSONLRead(b, true) })
}

func benchmarkJSONLRead(b *testing.B, release bool) {
	data := jsonlLeads(100_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := NewDecoder(bytes.NewReader(data), fileformat.DecodeOptions{File: "leads.jsonl"})
		if err != nil {
			b.Fatal(err)
		}
		rows := 0
		for {
			batch, err := d.Decode(context.Background(), etl.DefaultBatchSize)
			if batch != nil {
				rows += batch.Len() + len(batch.Rejects)
				if release {
					batch.Release()
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if rows != 100_000 {
			b.Fatalf("read %d rows, want 100000", rows)
		}
	}
}
