package jsonfile

import (
	"bytes"
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// readByPython reads JSON Lines with Python's json module and returns,
// per line, the type name of field "f" and its value as float.hex().
func readByPython(t *testing.T, data []byte) [][2]string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: no independent JSON reader")
	}
	script := `import json, sys
for line in sys.stdin:
    v = json.loads(line)["f"]
    print(json.dumps([type(v).__name__, v.hex() if isinstance(v, float) else str(v)]))`
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var got [][2]string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var pair [2]string
		if err := json.Unmarshal([]byte(line), &pair); err != nil {
			t.Fatal(err)
		}
		got = append(got, pair)
	}
	return got
}

// Floats are written so that an independent reader (Python's json) reads
// floats, each the same bits: whole numbers keep a decimal point, zero its
// sign.
func TestFloatsReadBackExactly(t *testing.T) {
	t.Parallel()
	floats := []float64{math.Copysign(0, -1), 0, 2789, 0.1 + 0.2, 1e21, 1e-7, 5e-324, math.MaxFloat64, -123456789012345680, 1.5}
	b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "f", Type: etl.TypeFloat}), len(floats))
	for i, f := range floats {
		b.Cols[0].AppendFloat(f)
		b.Origins = append(b.Origins, etl.Origin{Line: int64(i + 2)})
	}
	var buf bytes.Buffer
	enc := NewEncoder(&buf, fileformat.EncodeOptions{File: "out.jsonl"})
	if err := enc.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	got := readByPython(t, buf.Bytes())
	if len(got) != len(floats) {
		t.Fatalf("python read %d values, want %d:\n%s", len(got), len(floats), buf.String())
	}
	lines := strings.Split(buf.String(), "\n")
	for i, f := range floats {
		if got[i][0] != "float" {
			t.Errorf("%v written as %s: python reads a %s", f, lines[i], got[i][0])
			continue
		}
		back, err := strconv.ParseFloat(got[i][1], 64)
		if err != nil || math.Float64bits(back) != math.Float64bits(f) {
			t.Errorf("%v written as %s: python reads %s", f, lines[i], got[i][1])
		}
	}
}

// An array field is written as a JSON array (nested per dimension, bytes
// in base64), which Python's json reads as a list; NaN in one is an error
// naming the field, never NaN text.
func TestArraysAsJSONArrays(t *testing.T) {
	t.Parallel()
	s := etl.MustSchema(etl.Field{Name: "f", Type: etl.TypeArray, Elem: etl.TypeInt}, etl.Field{Name: "by", Type: etl.TypeArray, Elem: etl.TypeBytes})
	b := etl.NewBatch(s, 2)
	b.Cols[0].AppendJSON([]any{[]any{int64(1), nil}, []any{int64(-9223372036854775808), int64(4)}})
	b.Cols[1].AppendJSON([]any{[]byte{0, 0xff}})
	b.Origins = append(b.Origins, etl.Origin{Line: 2})
	var buf bytes.Buffer
	enc := NewEncoder(&buf, fileformat.EncodeOptions{File: "out.jsonl"})
	if err := enc.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := `{"f":[[1,null],[-9223372036854775808,4]],"by":["AP8="]}` + "\n"; buf.String() != want {
		t.Errorf("wrote %s, want %s", buf.String(), want)
	}
	if got := readByPython(t, buf.Bytes()); got[0][0] != "list" || got[0][1] != "[[1, None], [-9223372036854775808, 4]]" {
		t.Errorf("python reads %v", got[0])
	}
	nan := etl.NewBatch(etl.MustSchema(etl.Field{Name: "f", Type: etl.TypeArray, Elem: etl.TypeFloat}), 1)
	nan.Cols[0].AppendJSON([]any{math.NaN()})
	nan.Origins = append(nan.Origins, etl.Origin{Line: 2})
	if err := NewEncoder(&bytes.Buffer{}, fileformat.EncodeOptions{File: "out.jsonl"}).Write(nan); err == nil || !strings.Contains(err.Error(), `"f"`) {
		t.Errorf("NaN in an array: err = %v, want an error naming the field", err)
	}
}
