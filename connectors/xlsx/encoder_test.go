package xlsx

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// openpyxlPython returns a Python that imports openpyxl, or skips.
func openpyxlPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import openpyxl").Run() == nil {
			return path
		}
	}
	t.Skip("no python3 with openpyxl (apt-get install python3-openpyxl): no independent XLSX reader")
	return ""
}

// Floats excelize would cut to 15 digits (0.30000000000000004 → 0.3) read
// back exactly with an independent reader (openpyxl), as numbers; texts
// that start with the private mark used for them are kept as they are.
func TestFloatsReadBackExactly(t *testing.T) {
	t.Parallel()
	python := openpyxlPython(t)
	floats := []float64{0.1 + 0.2, 1.0 / 3, 2789, 123456789.12345679, 5e-324, math.MaxFloat64, 1e21, 1.5, -2.25e-300, 0.1}
	texts := []string{floatMark + "1.5", floatMark + floatMark + "x", "plain", floatMark + " with space", "", "a", "b", "c", "d", "e"}
	s := etl.MustSchema(etl.Field{Name: "f", Type: etl.TypeFloat}, etl.Field{Name: "s", Type: etl.TypeString})
	b := etl.NewBatch(s, len(floats))
	for i, f := range floats {
		b.Cols[0].AppendFloat(f)
		b.Cols[1].AppendString(texts[i])
		b.Origins = append(b.Origins, etl.Origin{Line: int64(i + 2)})
	}
	var buf bytes.Buffer
	enc := NewEncoder(&buf, fileformat.EncodeOptions{File: "out.xlsx"})
	if err := enc.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := enc.Finish(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.xlsx")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `import json, sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1]).active
for f, s in ws.iter_rows(min_row=2, values_only=True):
    print(json.dumps([type(f).__name__, f.hex() if isinstance(f, float) else str(f), s or ""]))`
	out, err := exec.Command(python, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("openpyxl: %v\n%s", err, out)
	}
	var gotTexts []string
	for i, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var row [3]string
		if err := json.Unmarshal(line, &row); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		gotTexts = append(gotTexts, row[2])
		if i >= len(floats) {
			t.Fatalf("extra row %s", line)
		}
		want := floats[i]
		got := want + 1
		switch row[0] {
		case "float":
			got, err = strconv.ParseFloat(row[1], 64)
		case "int":
			got, err = strconv.ParseFloat(row[1], 64)
		}
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("row %d: wrote %v, openpyxl reads %s %s", i+2, want, row[0], row[1])
		}
	}
	if diff := cmp.Diff(texts, gotTexts); diff != "" {
		t.Errorf("texts (-wrote +read):\n%s", diff)
	}
}
