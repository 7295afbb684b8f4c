package files_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/encoding/charmap"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	_ "github.com/nightjar-etl/nightjar/connectors/xmlfile"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestXMLFilesThroughTheRunner: XML files with namespaces, one in
// Windows-1252 declared as such, load through the files source; a broken
// one loads its records before the fault, is set aside naming its file and
// the fault's line, and moves to the failed folder; a record too deep is
// quarantined naming its line and field.
func TestXMLFilesThroughTheRunner(t *testing.T) {
	e := setupLoad(t)
	writeFile(t, e.dir, "in/a.xml", `<?xml version="1.0" encoding="UTF-8"?>
<o:orders xmlns:o="urn:shop:orders" xmlns:x="urn:other">
  <o:order id="1"><o:total currency="EUR">9.50</o:total><o:line sku="A"/><o:line sku="B"/></o:order>
  <x:order id="ignored"/>
  <o:order id="2"><o:total>3</o:total><o:line sku="C"/><o:line sku="D"/><o:note><p><q><r>deep</r></q></p></o:note></o:order>
  <o:order id="3"><o:total>4</o:total></o:order>
</o:orders>
`)
	latin, err := charmap.Windows1252.NewEncoder().String(`<?xml version="1.0" encoding="windows-1252"?>
<orders xmlns="urn:shop:orders"><order id="4"><total>5</total><note>Müller – café</note></order></orders>
`)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.dir, "in/b.xml", latin)
	writeFile(t, e.dir, "in/c.xml", `<orders xmlns="urn:shop:orders">
<order id="5"><total>6</total></order>
<order id="6"><total>7</total></order>
<order id="7"><total>8</oops></order>
<order id="8"><total>9</total></order>
</orders>
`)
	cfg := files.SourceConfig{Path: "in/*.xml", Failed: "failed", XML: fileformat.XMLOptions{
		RecordPath: "s:orders/s:order", Namespaces: map[string]string{"s": "urn:shop:orders"}, MaxDepth: 4}}
	run, err := e.run(cfg, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.Written != 5 || run.Rejected != 2 {
		t.Errorf("run %+v: want 5 rows written, 2 rejected", run.Counters)
	}
	// Types are per file, as for JSON: a.xml's total has attributes, so
	// it is json there (the text of order 3 a JSON string), text elsewhere.
	want := [][]string{
		{"1", `{"#text":"9.50","@currency":"EUR"}`, `[{"@sku":"A"},{"@sku":"B"}]`, "NULL"},
		{"3", `"4"`, "NULL", "NULL"},
		{"4", "5", "NULL", "Müller – café"},
		{"5", "6", "NULL", "NULL"},
		{"6", "7", "NULL", "NULL"},
	}
	if diff := cmp.Diff(want, e.query(`SELECT "@id", total, line, note FROM t ORDER BY "@id"`)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	q := e.quarantine()
	wantQ := []string{
		`in/a.xml:5 line 5: field "note": nested deeper than 4 levels (xml.max_depth)`,
		"in/c.xml file not loaded, moved to failed/c.xml: line 4: element <total> closed by </oops> (after 2 rows, up to line 3, were loaded)",
	}
	if diff := cmp.Diff(wantQ, q); diff != "" {
		t.Errorf("quarantine (-want +got):\n%s", diff)
	}
	if note, err := os.ReadFile(filepath.Join(e.dir, "failed", "c.xml.error.txt")); err != nil || !strings.Contains(string(note), "in/c.xml could not be loaded: line 4: ") {
		t.Errorf("failed note %q, %v", note, err)
	}
}

// TestXMLTargetReadsBack: the xml file target's output, every type and a
// null, reads back through the files source to the same rows, typed
// values as their text. The first row's line feed is written as it is, so
// the second row is on line 5; an array of one in a map reads back as its
// item (XML cannot tell them apart; see TestRoundTrip in xmlfile for
// what reads back exactly).
func TestXMLTargetReadsBack(t *testing.T) {
	dir := t.TempDir()
	writeOne(t, dir, "out/rows.xml", typedBatch(t))
	res := readAll(t, newSource(t, dir, files.SourceConfig{Path: "out/*.xml"}), etl.SourceEnv{})
	want := []row{
		{"out/rows.xml", 3, []any{"Zoë \"q\"\r\n", "-42", "2.5", "true", "2026-03-04T04:06:07.123456Z", "2026-03-04", map[string]any{"k": "v"}}},
		{"out/rows.xml", 5, []any{"second", nil, nil, nil, nil, nil, nil}},
	}
	if diff := cmp.Diff(want, res.Rows); diff != "" {
		t.Errorf("rows read back (-want +got):\n%s", diff)
	}
}
