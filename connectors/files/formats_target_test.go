package files_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pq "github.com/parquet-go/parquet-go"
	"github.com/xuri/excelize/v2"

	_ "github.com/nightjar-etl/nightjar/connectors/parquet"
	"github.com/nightjar-etl/nightjar/etl"
)

// typedBatch is two rows of every type, the second all null but its name.
func typedBatch(t *testing.T) *etl.Batch {
	t.Helper()
	s := etl.MustSchema(
		etl.Field{Name: "name", Type: etl.TypeString}, etl.Field{Name: "n", Type: etl.TypeInt},
		etl.Field{Name: "f", Type: etl.TypeFloat}, etl.Field{Name: "ok", Type: etl.TypeBool},
		etl.Field{Name: "at", Type: etl.TypeTimestamp}, etl.Field{Name: "day", Type: etl.TypeDate},
		etl.Field{Name: "doc", Type: etl.TypeJSON},
	)
	b := etl.NewBatch(s, 2)
	vals := []any{"Zoë \"q\"\r\n", int64(-42), 2.5, true,
		time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.FixedZone("x", 3600)),
		time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), map[string]any{"k": []any{"v"}}}
	for j, v := range vals {
		if err := b.Cols[j].Append(v); err != nil {
			t.Fatal(err)
		}
		if j == 0 {
			b.Cols[j].AppendString("second")
		} else {
			b.Cols[j].AppendNull()
		}
	}
	b.Origins = append(b.Origins, etl.Origin{File: "x", Line: 1}, etl.Origin{File: "x", Line: 2})
	return b
}

func writeOne(t *testing.T, dir, path string, b *etl.Batch) string {
	t.Helper()
	tgt := openTarget(t, dir, path)
	ctx := context.Background()
	if err := tgt.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := tgt.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, path)
}

func TestParquetTargetTyped(t *testing.T) {
	dir := t.TempDir()
	path := writeOne(t, dir, "out.parquet", typedBatch(t))
	type row struct {
		Name *string    `parquet:"name,optional"`
		N    *int64     `parquet:"n,optional"`
		F    *float64   `parquet:"f,optional"`
		OK   *bool      `parquet:"ok,optional"`
		At   *time.Time `parquet:"at,optional,timestamp(microsecond)"`
		Day  *time.Time `parquet:"day,optional,date"`
		Doc  *string    `parquet:"doc,optional,json"`
	}
	rows, err := pq.ReadFile[row](path)
	if err != nil {
		t.Fatal(err)
	}
	str, n, f, ok := "Zoë \"q\"\r\n", int64(-42), 2.5, true
	at := time.Date(2026, 3, 4, 4, 6, 7, 123456000, time.UTC)
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	doc := `{"k":["v"]}`
	second := "second"
	want := []row{{&str, &n, &f, &ok, &at, &day, &doc}, {Name: &second}}
	if diff := cmp.Diff(want, rows, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	// The columns are typed in the file's schema.
	f2, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	st, _ := f2.Stat()
	pf, err := pq.OpenFile(f2, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, c := range pf.Schema().Columns() {
		leaf, _ := pf.Schema().Lookup(c...)
		types[c[0]] = leaf.Node.Type().String()
	}
	wantTypes := map[string]string{"name": "STRING", "n": "INT(64,true)", "f": "DOUBLE", "ok": "BOOLEAN",
		"at": "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)", "day": "DATE", "doc": "JSON"}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("column types (-want +got):\n%s", diff)
	}
}

func TestJSONArrayTarget(t *testing.T) {
	dir := t.TempDir()
	path := writeOne(t, dir, "out.json", typedBatch(t))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("not one JSON array: %v\n%s", err, data)
	}
	want := []map[string]any{
		{"name": "Zoë \"q\"\r\n", "n": -42.0, "f": 2.5, "ok": true, "at": "2026-03-04T04:06:07.123456Z", "day": "2026-03-04", "doc": map[string]any{"k": []any{"v"}}},
		{"name": "second", "n": nil, "f": nil, "ok": nil, "at": nil, "day": nil, "doc": nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}

func TestXLSXTarget(t *testing.T) {
	dir := t.TempDir()
	path := writeOne(t, dir, "out.xlsx", typedBatch(t))
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Sheet1", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"name", "n", "f", "ok", "at", "day", "doc"}, rows[0]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	wantTypes := []excelize.CellType{excelize.CellTypeSharedString, excelize.CellTypeUnset, excelize.CellTypeUnset, excelize.CellTypeBool}
	for i, want := range wantTypes {
		cell, _ := excelize.CoordinatesToCellName(i+1, 2)
		if got, _ := f.GetCellType("Sheet1", cell); got != want && !(want == excelize.CellTypeSharedString && got == excelize.CellTypeInlineString) {
			t.Errorf("cell %s type %v, want %v", cell, got, want)
		}
	}
	formatted, _ := f.GetCellValue("Sheet1", "E2")
	if formatted != "2026-03-04 04:06:07" {
		t.Errorf("timestamp cell shows %q", formatted)
	}
	bold, _ := f.GetCellStyle("Sheet1", "A1")
	style, _ := f.GetStyle(bold)
	if style == nil || style.Font == nil || !style.Font.Bold {
		t.Errorf("header style %+v, want bold", style)
	}
	panes, err := f.GetPanes("Sheet1")
	if err != nil || !panes.Freeze || panes.YSplit != 1 {
		t.Errorf("panes %+v, %v; want the header row frozen", panes, err)
	}

	// And it reads back through the files source, typed.
	e := setupLoad(t)
	data, _ := os.ReadFile(path)
	writeFile(t, e.dir, "in/out.xlsx", string(data))
	if _, err := e.run(filesXLSX("in/*.xlsx"), 0, 0); err != nil {
		t.Fatal(err)
	}
	got := e.query(`SELECT hex(name), n, f, ok, at, day FROM t ORDER BY rowid`)
	want := [][]string{
		{"5A6FC3AB202271220D0A", "-42", "2.5", "1", "2026-03-04T04:06:07.123Z", "2026-03-04T00:00:00Z"},
		{"7365636F6E64", "NULL", "NULL", "NULL", "NULL", "NULL"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}
