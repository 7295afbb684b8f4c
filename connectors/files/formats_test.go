package files_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/unicode"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	_ "github.com/nightjar-etl/nightjar/connectors/xlsx"
)

const sharedTestdata = "../../../shared/testdata"

// query returns the rows of a query on the warehouse, each value as text
// ("NULL" for null).
func (e *loadEnv) query(q string) [][]string {
	e.t.Helper()
	rows, err := e.db.Query(q)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			e.t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				row[i] = "NULL"
			case []byte:
				row[i] = string(x)
			default:
				row[i] = fmt.Sprint(x)
			}
		}
		out = append(out, row)
	}
	return out
}

func (e *loadEnv) quarantine() []string {
	e.t.Helper()
	q, err := e.store.Quarantined(context.Background(), "load", 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for i := len(q) - 1; i >= 0; i-- { // oldest first
		out = append(out, q[i].Origin+" "+q[i].Reason)
	}
	return out
}

func copyShared(t *testing.T, dst, src string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sharedTestdata, src))
	if err != nil {
		t.Skipf("shared test data: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBankMarketingSemicolonCSV(t *testing.T) {
	e := setupLoad(t)
	copyShared(t, filepath.Join(e.dir, "in", "bank.csv"), "bank-marketing/bank.csv")
	csv := fileformat.DefaultCSVOptions()
	csv.Delimiter = "auto"
	run, err := e.run(files.SourceConfig{Path: "in/*.csv", CSV: csv}, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.Written != 4521 || run.Rejected != 0 {
		t.Errorf("run %+v, want 4521 rows written", run.Counters)
	}
	got := e.query(`SELECT age, job, marital, balance, y FROM t WHERE rowid IN (1, 4521) ORDER BY rowid`)
	want := [][]string{{"30", "unemployed", "married", "1787", "no"}, {"44", "entrepreneur", "single", "1136", "no"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestBotTranscriptsJSONArrays(t *testing.T) {
	e := setupLoad(t)
	names, _ := filepath.Glob(filepath.Join(sharedTestdata, "bot-transcripts", "*.transcript"))
	if len(names) == 0 {
		t.Skip("no shared transcripts")
	}
	total := 0
	for _, n := range names {
		copyShared(t, filepath.Join(e.dir, "in", filepath.Base(n)), "bot-transcripts/"+filepath.Base(n))
		data, _ := os.ReadFile(n)
		var acts []map[string]any
		if err := json.Unmarshal(data, &acts); err != nil {
			t.Fatal(err)
		}
		total += len(acts)
	}
	run, err := e.run(files.SourceConfig{Path: "in/*.transcript", Format: "json"}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.Written != int64(total) || run.Rejected != 0 {
		t.Errorf("run %+v, want %d rows", run.Counters, total)
	}
	got := e.query(`SELECT id, type, json_extract("from", '$.name'), json_extract("from", '$.role'), timestamp FROM t LIMIT 1`)
	data, _ := os.ReadFile(names[0])
	var first []struct {
		ID, Type, Timestamp string
		From                struct{ Name, Role string }
	}
	json.Unmarshal(data, &first)
	want := [][]string{{first[0].ID, first[0].Type, first[0].From.Name, first[0].From.Role, first[0].Timestamp}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first activity (-want +got):\n%s", diff)
	}
}

func TestJSONRecordsPath(t *testing.T) {
	e := setupLoad(t)
	writeFile(t, e.dir, "in/page.json", `{"meta": {"n": 2}, "data": {"cursor": "x", "items": [
  {"id": 1, "name": "a", "tags": ["x", "y"]},
  7,
  {"id": 2, "name": "b\nc", "tags": {"k": 1}}
]}}`)
	if _, err := e.run(files.SourceConfig{Path: "in/*.json", JSON: fileformat.JSONOptions{Records: "data.items"}}, 0, 0); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"1", "a", `["x","y"]`}, {"2", "b\nc", `{"k":1}`}}
	if diff := cmp.Diff(want, e.query(`SELECT id, name, tags FROM t ORDER BY id`)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"in/page.json:3 line 3: not a JSON object"}, e.quarantine()); diff != "" {
		t.Errorf("quarantine (-want +got):\n%s", diff)
	}
}

func utf16File(t *testing.T, text string, order unicode.Endianness) string {
	t.Helper()
	out, err := unicode.UTF16(order, unicode.UseBOM).NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gzipped(t *testing.T, text string) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(text))
	zw.Close()
	return buf.String()
}

func TestTextFilesFieldByField(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content string
		csv     func(*fileformat.CSVOptions)
		query   string
		want    [][]string
		rejects []string
	}{
		{
			name: "Windows-1252", file: "in/w.csv",
			content: "id,name,price\n1,Jos\xe9 M\xfcller,\x80 5\n2,na\xefve \x93quoted\x94,\n",
			query:   `SELECT id, name, price FROM t`,
			want:    [][]string{{"1", "José Müller", "€ 5"}, {"2", "naïve “quoted”", "NULL"}},
		},
		{
			name: "UTF-16 LE with BOM", file: "in/u16le.csv",
			content: utf16File(t, "id;name\r\n1;Zoë\r\n2;\"日本, 語\"\r\n", unicode.LittleEndian),
			csv:     func(o *fileformat.CSVOptions) { o.Delimiter = "auto" },
			query:   `SELECT id, name FROM t`,
			want:    [][]string{{"1", "Zoë"}, {"2", "日本, 語"}},
		},
		{
			name: "UTF-16 BE with BOM", file: "in/u16be.csv",
			content: utf16File(t, "id\tname\n1\tÅsa\n", unicode.BigEndian),
			csv:     func(o *fileformat.CSVOptions) { o.Delimiter = "auto" },
			query:   `SELECT id, name FROM t`,
			want:    [][]string{{"1", "Åsa"}},
		},
		{
			name: "UTF-8 BOM, semicolons, CRLF, quoted line breaks", file: "in/s.csv",
			content: "\uFEFFid;note;city\r\n1;\"first\r\nsecond\";\"Köln\"\r\n2;\"a;b \"\"q\"\"\";\r\n",
			csv:     func(o *fileformat.CSVOptions) { o.Delimiter = "auto" },
			query:   `SELECT id, hex(note), city FROM t`,
			want: [][]string{
				{"1", fmt.Sprintf("%X", "first\r\nsecond"), "Köln"},
				{"2", fmt.Sprintf("%X", `a;b "q"`), "NULL"},
			},
		},
		{
			name: "ragged rows quarantined", file: "in/r.csv",
			content: "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n",
			query:   `SELECT a, b, c FROM t`,
			want:    [][]string{{"1", "2", "3"}, {"10", "11", "12"}},
			rejects: []string{"in/r.csv:3 line 3: 2 fields, header has 3", "in/r.csv:4 line 4: 4 fields, header has 3"},
		},
		{
			name: "JSONL with a broken line", file: "in/j.jsonl",
			content: `{"id":1,"v":"x"}` + "\n" + `{"id":2,"v":` + "\n" + `{"id":3,"v":"z"}` + "\n",
			query:   `SELECT id, v FROM t`,
			want:    [][]string{{"1", "x"}, {"3", "z"}},
			rejects: []string{"in/j.jsonl:2 line 2: unexpected end of JSON input"},
		},
		{
			name: "gzip CSV", file: "in/g.csv.gz",
			content: gzipped(t, "id,name\n1,Zoë\n2,\"x\r\ny\"\n"),
			query:   `SELECT id, hex(name) FROM t`,
			want:    [][]string{{"1", fmt.Sprintf("%X", "Zoë")}, {"2", fmt.Sprintf("%X", "x\r\ny")}},
		},
		{
			name: "gzip Windows-1252 JSONL", file: "in/g.jsonl.gz",
			content: gzipped(t, "{\"name\":\"Jos\xe9\"}\n"),
			query:   `SELECT name FROM t`,
			want:    [][]string{{"José"}},
		},
		{
			name: "headerless", file: "in/h.csv",
			content: "1,a\n2,b\n",
			csv:     func(o *fileformat.CSVOptions) { o.Header = false },
			query:   `SELECT col_1, col_2 FROM t`,
			want:    [][]string{{"1", "a"}, {"2", "b"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := setupLoad(t)
			writeFile(t, e.dir, tc.file, tc.content)
			csv := fileformat.DefaultCSVOptions()
			if tc.csv != nil {
				tc.csv(&csv)
			}
			if _, err := e.run(files.SourceConfig{Path: tc.file, CSV: csv}, 0, 0); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, e.query(tc.query+" ORDER BY rowid")); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.rejects, e.quarantine()); diff != "" {
				t.Errorf("quarantine (-want +got):\n%s", diff)
			}
		})
	}
}

// resumeText checks that a transcoded, gzipped file resumes mid-file at
// its decoded offset.
func TestResumeInDecodedText(t *testing.T) {
	var text strings.Builder
	text.WriteString("id,name\n")
	for i := range 30 {
		fmt.Fprintf(&text, "%d,Jos\xe9 %d\n", i, i)
	}
	for _, name := range []string{"in/a.csv", "in/a.csv.gz"} {
		t.Run(name, func(t *testing.T) {
			e := setupLoad(t)
			content := text.String()
			if strings.HasSuffix(name, ".gz") {
				content = gzipped(t, content)
			}
			writeFile(t, e.dir, name, content)
			cfg := files.SourceConfig{Path: "in/*"}
			cfg.CSV = fileformat.DefaultCSVOptions()
			cfg.Format = "csv"
			if _, err := e.run(cfg, 4, 3); err == nil {
				t.Fatal("want the target's failure")
			}
			run, err := e.run(cfg, 4, 0)
			if err != nil {
				t.Fatal(err)
			}
			if run.Read != 22 {
				t.Errorf("resumed run read %d rows, want 22", run.Read)
			}
			if diff := cmp.Diff(seq(0, 30), e.ids()); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if got := e.query(`SELECT name FROM t WHERE id = '29'`); got[0][0] != "José 29" {
				t.Errorf("name %q", got[0][0])
			}
		})
	}
}

// writeWorkbook writes the XLSX of the XLSX test: sheet Leads with a
// merged header cell, dates, booleans, a formula and empty trailing rows;
// sheet Notes with a title row above its header.
func writeWorkbook(t *testing.T, path string, date1904 bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f := excelize.NewFile()
	defer f.Close()
	if date1904 {
		if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &date1904}); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetSheetName("Sheet1", "Leads"))
	dateFmt := "yyyy-mm-dd hh:mm"
	dateStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt})
	must(err)
	builtinDate, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	must(err)
	must(f.SetSheetRow("Leads", "A1", &[]any{"id", "Contact", nil, "created", "active", "score x10", "day"}))
	must(f.MergeCell("Leads", "B1", "C1"))
	rows := [][]any{
		{1, "ada@example.com", "Ada", 45306.4375, true, nil, 45306},
		{2, "bob@example.com", nil, 45307.0, false, nil, 59},
	}
	for i, r := range rows {
		cell := fmt.Sprintf("A%d", i+2)
		must(f.SetSheetRow("Leads", cell, &r))
		must(f.SetCellStyle("Leads", fmt.Sprintf("D%d", i+2), fmt.Sprintf("D%d", i+2), dateStyle))
		must(f.SetCellStyle("Leads", fmt.Sprintf("G%d", i+2), fmt.Sprintf("G%d", i+2), builtinDate))
		must(f.SetCellValue("Leads", fmt.Sprintf("F%d", i+2), (i+1)*10))
		must(f.SetCellFormula("Leads", fmt.Sprintf("F%d", i+2), fmt.Sprintf("A%d*10", i+2)))
	}
	// Styled but empty trailing rows.
	must(f.SetCellStyle("Leads", "A10", "G12", dateStyle))
	_, err = f.NewSheet("Notes")
	must(err)
	must(f.SetSheetRow("Notes", "A1", &[]any{"Exported by the CRM"}))
	must(f.SetSheetRow("Notes", "A2", &[]any{"key", "value"}))
	must(f.SetSheetRow("Notes", "A3", &[]any{"a", 1.5}))
	must(f.SetSheetRow("Notes", "A4", &[]any{"b", "text"}))
	must(f.SaveAs(path))
}

func TestXLSXFieldByField(t *testing.T) {
	for _, date1904 := range []bool{false, true} {
		t.Run(fmt.Sprint("date1904=", date1904), func(t *testing.T) {
			e := setupLoad(t)
			writeWorkbook(t, filepath.Join(e.dir, "in", "leads.xlsx"), date1904)
			x := fileformat.DefaultXLSXOptions()
			x.Sheet = "Leads"
			run, err := e.run(files.SourceConfig{Path: "in/*.xlsx", XLSX: x}, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if run.Written != 2 || run.Rejected != 0 {
				t.Errorf("run %+v, want 2 rows", run.Counters)
			}
			// The same serials mean other days in the 1904 system.
			created := []string{"2024-01-15T10:30:00Z", "2024-01-16T00:00:00Z"}
			// Serial 59 is before the 1900 system's phantom 29 February.
			days := []string{"2024-01-15T00:00:00Z", "1900-02-28T00:00:00Z"}
			if date1904 {
				created = []string{"2028-01-16T10:30:00Z", "2028-01-17T00:00:00Z"}
				days = []string{"2028-01-16T00:00:00Z", "1904-02-29T00:00:00Z"}
			}
			want := [][]string{
				{"1", "ada@example.com", "Ada", created[0], "1", "10", days[0]},
				{"2", "bob@example.com", "NULL", created[1], "0", "20", days[1]},
			}
			got := e.query(`SELECT id, Contact, Contact_2, created, active, "score x10", day FROM t ORDER BY rowid`)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			// (excelize stores its formulas' cached values as strings, t="str",
			// so "score x10" is text here.)
			types := e.query(`SELECT typeof(id), typeof(active), typeof(created) FROM t LIMIT 1`)
			if diff := cmp.Diff([][]string{{"integer", "integer", "text"}}, types); diff != "" {
				t.Errorf("column types (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("second sheet by index, header row 2", func(t *testing.T) {
		e := setupLoad(t)
		writeWorkbook(t, filepath.Join(e.dir, "in", "leads.xlsx"), false)
		x := fileformat.XLSXOptions{Sheet: "2", HeaderRow: 2, Header: true}
		if _, err := e.run(files.SourceConfig{Path: "in/*.xlsx", XLSX: x}, 0, 0); err != nil {
			t.Fatal(err)
		}
		// value mixes a number and text: string.
		if diff := cmp.Diff([][]string{{"a", "1.5"}, {"b", "text"}}, e.query(`SELECT key, value FROM t ORDER BY rowid`)); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})

	t.Run("every sheet, headerless", func(t *testing.T) {
		e := setupLoad(t)
		writeWorkbook(t, filepath.Join(e.dir, "in", "leads.xlsx"), false)
		x := fileformat.XLSXOptions{Sheet: "*", HeaderRow: 1, Header: false}
		run, err := e.run(files.SourceConfig{Path: "in/*.xlsx", XLSX: x}, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if run.Written != 7 {
			t.Errorf("%d rows, want 7 (3 + 4)", run.Written)
		}
		got := e.query(`SELECT _sheet, count(*) FROM t GROUP BY _sheet ORDER BY _sheet`)
		if diff := cmp.Diff([][]string{{"Leads", "3"}, {"Notes", "4"}}, got); diff != "" {
			t.Errorf("rows per sheet (-want +got):\n%s", diff)
		}
	})
}

func TestXLSXEncryptedAndBrokenWorkbooks(t *testing.T) {
	e := setupLoad(t)
	in := filepath.Join(e.dir, "in")
	writeWorkbook(t, filepath.Join(in, "good.xlsx"), false)
	f, err := excelize.OpenFile(filepath.Join(in, "good.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SaveAs(filepath.Join(in, "locked.xlsx"), excelize.Options{Password: "secret"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	writeFile(t, e.dir, "in/broken.xlsx", "PK\x03\x04 this is not a zip")
	good, _ := os.ReadFile(filepath.Join(in, "good.xlsx"))
	writeFile(t, e.dir, "in/truncated.xlsx", string(good[:len(good)/2]))

	x := fileformat.DefaultXLSXOptions()
	if _, err := e.run(files.SourceConfig{Path: "in/*.xlsx", XLSX: x, Failed: "failed"}, 0, 0); err != nil {
		t.Fatal(err)
	}
	got := e.quarantine()
	wants := []string{
		"in/broken.xlsx file not loaded, moved to failed/broken.xlsx: not a readable XLSX workbook",
		"in/locked.xlsx file not loaded, moved to failed/locked.xlsx: the workbook is encrypted (password-protected)",
		"in/truncated.xlsx file not loaded, moved to failed/truncated.xlsx: not a readable XLSX workbook",
	}
	if len(got) != len(wants) {
		t.Fatalf("quarantine %q, want %d entries", got, len(wants))
	}
	for i, w := range wants {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("quarantine[%d] = %q, want it to start with %q", i, got[i], w)
		}
	}
	if n := len(e.query(`SELECT 1 FROM t`)); n != 2 {
		t.Errorf("good.xlsx loaded %d rows, want 2", n)
	}

}

func filesXLSX(path string) files.SourceConfig {
	return files.SourceConfig{Path: path, XLSX: fileformat.DefaultXLSXOptions()}
}
