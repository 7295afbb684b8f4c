package files_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/etl"
)

// formulaValues are text a spreadsheet would run (OWASP's CSV injection
// cases) and text and numbers it must leave alone.
var formulaValues = []struct{ in, escaped string }{
	{`=cmd|' /C calc'!A0`, `'=cmd|' /C calc'!A0`},
	{"+1+1", "'+1+1"},
	{"-2+3", "'-2+3"},
	{"@SUM(A1:A2)", "'@SUM(A1:A2)"},
	{"\tx", "'\tx"},
	{"\rx", "'\rx"},
	{"-42", "-42"},
	{"+3.5", "+3.5"},
	{"hello", "hello"},
	{"a=b", "a=b"},
}

func writeFormulas(t *testing.T, cfg files.TargetConfig) string {
	t.Helper()
	dir := t.TempDir()
	tgt, err := files.NewTarget(cfg, etl.BuildEnv{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tgt.Open(ctx, etl.TargetEnv{Job: "leads", RunID: 7, RunDate: runDate}); err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	rows := make([][]any, len(formulaValues))
	for i, v := range formulaValues {
		rows[i] = []any{v.in}
	}
	if err := tgt.Write(ctx, stringBatch([]string{"note"}, rows...)); err != nil {
		t.Fatal(err)
	}
	if err := tgt.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, cfg.Path)
}

// TestCSVEscapeFormulas: with escape_formulas a CSV meant for a
// spreadsheet starts formula-like text with an apostrophe; numbers stay
// numbers; without it the file is the data as it is.
func TestCSVEscapeFormulas(t *testing.T) {
	for _, escape := range []bool{true, false} {
		path := writeFormulas(t, files.TargetConfig{Path: "out.csv", EscapeFormulas: escape})
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, r := range recs[1:] {
			got = append(got, r[0])
		}
		for _, v := range formulaValues {
			w := v.in
			if escape {
				w = v.escaped
			}
			want = append(want, w)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("escape_formulas %t (-want +got):\n%s", escape, diff)
		}
	}
}

// TestXLSXTextIsNeverAFormula: XLSX needs no escaping, as its text cells
// are never evaluated; escape_formulas is refused there with the reason.
func TestXLSXTextIsNeverAFormula(t *testing.T) {
	path := writeFormulas(t, files.TargetConfig{Path: "out.xlsx"})
	wb, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	sheet := wb.GetSheetName(0)
	for i, v := range formulaValues {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if f, err := wb.GetCellFormula(sheet, cell); err != nil || f != "" {
			t.Errorf("%s (%q) is the formula %q (%v)", cell, v.in, f, err)
		}
		if got, _ := wb.GetCellValue(sheet, cell); got != v.in {
			t.Errorf("%s = %q, want %q", cell, got, v.in)
		}
	}
	_, err = files.NewTarget(files.TargetConfig{Path: "out.xlsx", EscapeFormulas: true}, etl.BuildEnv{})
	if err == nil || !strings.Contains(err.Error(), "escape_formulas") || !strings.Contains(err.Error(), "never evaluated") {
		t.Errorf("escape_formulas on xlsx: %v", err)
	}
}
