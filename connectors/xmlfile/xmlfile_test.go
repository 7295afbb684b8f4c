package xmlfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// read is what a decoder made of a whole file.
type read struct {
	rows    []map[string]any // non-null fields only
	lines   []int64
	types   map[string]etl.Type
	rejects []etl.Reject
	err     error
}

// readAll decodes text whole, batch records at a time, from offset.
func readAll(t interface {
	Helper()
	Fatalf(string, ...any)
}, text string, opts fileformat.DecodeOptions, batch int) read {
	t.Helper()
	if opts.File == "" {
		opts.File = "in.xml"
	}
	var out read
	out.types = map[string]etl.Type{}
	d, err := NewDecoder(strings.NewReader(text), opts)
	if err != nil {
		out.err = err
		return out
	}
	for {
		b, err := d.Decode(context.Background(), batch)
		if err != nil && !errors.Is(err, io.EOF) {
			if b != nil {
				t.Fatalf("Decode returned a batch with the error %v", err)
			}
			out.err = err
			return out
		}
		if cerr := b.Check(); cerr != nil {
			t.Fatalf("batch check: %v", cerr)
		}
		for i := range b.Len() {
			row := map[string]any{}
			for j, f := range b.Schema.Fields() {
				out.types[f.Name] = f.Type
				if v := b.Cols[j].Value(i); v != nil {
					row[f.Name] = v
				}
			}
			out.rows = append(out.rows, row)
			out.lines = append(out.lines, b.Origins[i].Line)
		}
		out.rejects = append(out.rejects, b.Rejects...)
		if errors.Is(err, io.EOF) {
			return out
		}
	}
}

func TestRecordPathNamespacesAttributesText(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<!-- an Atom feed with Google's product namespace -->
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">
  <title>Products</title>
  <entry id="1" g:kind="shoe">
    <g:price currency="EUR">9.99</g:price>
    <tag>x</tag><tag>y</tag>
    <name>Ann &amp; Bob <![CDATA[<b>]]></name>
    mixed <i>in</i> text
  </entry>
  <entry id="2"><name/><tag>z</tag></entry>
  <other:entry xmlns:other="urn:other" id="3"/>
</feed>
`
	want := []map[string]any{
		{"@id": "1", "@kind": "shoe", "price": map[string]any{"@currency": "EUR", "#text": "9.99"},
			"tag": []any{"x", "y"}, "name": "Ann & Bob <b>", "i": "in", "#text": "mixed text"},
		{"@id": "2", "name": "", "tag": []any{"z"}}, // tag is repeated in the file's first records: an array in every row
	}
	for _, path := range []string{
		"feed/a:entry", // the file's default namespace under another prefix
		"/feed/{http://www.w3.org/2005/Atom}entry", // Clark notation
		"{http://www.w3.org/2005/Atom}feed/a:entry",
	} {
		got := readAll(t, doc, fileformat.DecodeOptions{XML: fileformat.XMLOptions{
			RecordPath: path, Namespaces: map[string]string{"a": "http://www.w3.org/2005/Atom"}}}, 1)
		if got.err != nil {
			t.Fatalf("%s: %v", path, got.err)
		}
		if diff := cmp.Diff(want, got.rows); diff != "" {
			t.Errorf("%s: rows (-want +got):\n%s", path, diff)
		}
		if diff := cmp.Diff([]int64{5, 11}, got.lines); diff != "" {
			t.Errorf("%s: lines (-want +got):\n%s", path, diff)
		}
		wantTypes := map[string]etl.Type{"@id": etl.TypeString, "@kind": etl.TypeString, "price": etl.TypeJSON,
			"tag": etl.TypeJSON, "name": etl.TypeString, "i": etl.TypeString, "#text": etl.TypeString}
		if diff := cmp.Diff(wantTypes, got.types); diff != "" {
			t.Errorf("%s: types (-want +got):\n%s", path, diff)
		}
	}
	// Any namespace matches a step without a prefix: the third entry too.
	if got := readAll(t, doc, fileformat.DecodeOptions{XML: fileformat.XMLOptions{RecordPath: "feed/entry"}}, 10); len(got.rows) != 3 || got.err != nil {
		t.Errorf("feed/entry: %d rows, %v; want 3", len(got.rows), got.err)
	}
	// No record path: the root's children, the title too.
	if got := readAll(t, doc, fileformat.DecodeOptions{}, 10); len(got.rows) != 4 || got.rows[0]["#text"] != "Products" {
		t.Errorf("no record path: %v, %v; want 4 rows, the title first", got.rows, got.err)
	}
	// A namespace that is not the element's does not match; a root that
	// is not the path's first step fails naming both.
	got := readAll(t, doc, fileformat.DecodeOptions{XML: fileformat.XMLOptions{RecordPath: "feed/g:entry",
		Namespaces: map[string]string{"g": "http://base.google.com/ns/1.0"}}}, 10)
	if len(got.rows) != 0 || got.err != nil {
		t.Errorf("feed/g:entry: %v, %v; want no rows", got.rows, got.err)
	}
	got = readAll(t, doc, fileformat.DecodeOptions{XML: fileformat.XMLOptions{RecordPath: "rss/channel/item"}}, 10)
	if got.err == nil || got.err.Error() != "line 3: the root element is <{http://www.w3.org/2005/Atom}feed>, record_path starts with rss" {
		t.Errorf("rss path on a feed: %v", got.err)
	}
	if _, err := (fileformat.XMLOptions{RecordPath: "feed/x:entry"}).Steps(); err == nil || !strings.Contains(err.Error(), `prefix "x" is not in namespaces`) {
		t.Errorf("unknown prefix: %v", err)
	}
}

// TestMalformedXMLLoadsTheRecordsBefore: a fault anywhere in a record
// fails the file naming the fault's line, after every record before it
// was delivered (however the batches fall); none after it is.
func TestMalformedXMLLoadsTheRecordsBefore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rows := rapid.IntRange(1, 30).Draw(t, "rows")
		bad := rapid.IntRange(0, rows-1).Draw(t, "bad")
		var doc strings.Builder
		doc.WriteString("<?xml version=\"1.0\"?>\n<rows>\n")
		fault := map[string]string{
			"unclosed": "<row><id>%d</id><x></row>\n",
			"mismatch": "<row><id>%d</id></x></row>\n",
			"entity":   "<row><id>%d</id><n>&nope;</n></row>\n",
			"attr":     "<row a=1><id>%d</id></row>\n",
			"cut":      "<row><id>%d</id><n>a",
		}
		kinds := []string{"unclosed", "mismatch", "entity", "attr", "cut"}
		kind := rapid.SampledFrom(kinds).Draw(t, "kind")
		for i := range rows {
			if i == bad {
				fmt.Fprintf(&doc, fault[kind], i)
				if kind == "cut" {
					break
				}
				continue
			}
			fmt.Fprintf(&doc, "<row><id>%d</id>\n<n>r%d</n></row>\n", i, i)
		}
		if kind != "cut" {
			doc.WriteString("</rows>\n")
		}
		batch := rapid.IntRange(1, 8).Draw(t, "batch")
		got := readAll(t, doc.String(), fileformat.DecodeOptions{}, batch)
		var want []map[string]any
		for i := range bad {
			want = append(want, map[string]any{"id": fmt.Sprint(i), "n": fmt.Sprintf("r%d", i)})
		}
		if diff := cmp.Diff(want, got.rows); diff != "" {
			t.Fatalf("rows before the fault (-want +got):\n%s", diff)
		}
		// Each good record takes two lines, after the two of the header.
		line := 3 + 2*bad
		if got.err == nil || !strings.HasPrefix(got.err.Error(), fmt.Sprintf("line %d: ", line)) {
			t.Fatalf("error %v, want one naming line %d", got.err, line)
		}
	})
}

// TestEntitiesAreNotExpanded: a DTD's entities, internal (billion laughs)
// or external (a local file), are refused where they are used, naming the
// line; nothing is expanded or read.
func TestEntitiesAreNotExpanded(t *testing.T) {
	laughs := `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>
<row><id>1</id></row>
<row><id>2</id><v>&lol9;</v></row>
</lolz>`
	got := readAll(t, laughs, fileformat.DecodeOptions{}, 10)
	if len(got.rows) != 1 || got.err == nil || got.err.Error() != "line 10: invalid character entity &lol9;" {
		t.Errorf("billion laughs: rows %v, error %v; want one row and the entity refused on line 10", got.rows, got.err)
	}
	xxe := `<?xml version="1.0"?>
<!DOCTYPE r [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<r><row><v>&secret;</v></row></r>`
	got = readAll(t, xxe, fileformat.DecodeOptions{}, 10)
	if len(got.rows) != 0 || got.err == nil || got.err.Error() != "line 3: invalid character entity &secret;" {
		t.Errorf("external entity: rows %v, error %v; want it refused on line 3", got.rows, got.err)
	}
	// The five predefined entities and character references are text.
	got = readAll(t, `<r><row v="&quot;&apos;"><t>&lt;&gt;&amp;&#233;&#x1F600;</t></row></r>`, fileformat.DecodeOptions{}, 10)
	if diff := cmp.Diff([]map[string]any{{"@v": `"'`, "t": "<>&é😀"}}, got.rows); diff != "" || got.err != nil {
		t.Errorf("predefined entities (-want +got):\n%s%v", diff, got.err)
	}
}

func TestBounds(t *testing.T) {
	doc := "<r>\n<row><id>1</id></row>\n<row><id>2</id><a><b><c>deep</c></b></a></row>\n<row><id>3</id><a><b>ok</b></a></row>\n</r>"
	got := readAll(t, doc, fileformat.DecodeOptions{XML: fileformat.XMLOptions{MaxDepth: 3}}, 10)
	if got.err != nil || len(got.rows) != 2 {
		t.Fatalf("max_depth: rows %v, %v; want rows 1 and 3", got.rows, got.err)
	}
	want := []etl.Reject{{Step: "source", Origin: etl.Origin{File: "in.xml", Line: 3}, Field: "a",
		Reason: `line 3: field "a": nested deeper than 3 levels (xml.max_depth)`}}
	if diff := cmp.Diff(want, got.rejects); diff != "" {
		t.Errorf("max_depth reject (-want +got):\n%s", diff)
	}
	big := "<r>\n<row><id>1</id></row>\n<row><id>2</id>\n<v>" + strings.Repeat("x", 2000) + "</v></row>\n<row><id>3</id></row></r>"
	got = readAll(t, big, fileformat.DecodeOptions{XML: fileformat.XMLOptions{MaxRecordSize: 1000}}, 10)
	if len(got.rows) != 1 || got.err == nil || got.err.Error() != "line 3: a record larger than 1000 bytes (xml.max_record_size)" {
		t.Errorf("max_record_size: rows %v, error %v", got.rows, got.err)
	}
	outside := "<r>\n<!-- " + strings.Repeat("x", 2000) + " -->\n<row><id>1</id></row></r>"
	got = readAll(t, outside, fileformat.DecodeOptions{XML: fileformat.XMLOptions{MaxRecordSize: 1000}}, 10)
	if got.err == nil || !strings.Contains(got.err.Error(), "outside any record (xml.max_record_size)") {
		t.Errorf("text outside records: %v", got.err)
	}
	for _, text := range []string{"", "   \n", "<!-- only a comment -->"} {
		got = readAll(t, text, fileformat.DecodeOptions{}, 10)
		if got.err == nil || !strings.Contains(got.err.Error(), "no root element") {
			t.Errorf("%q: %v, want no root element", text, got.err)
		}
	}
	got = readAll(t, "<r><row/></r>\n<r2/>", fileformat.DecodeOptions{}, 10)
	if got.err == nil || got.err.Error() != "line 2: a second root element <r2> (a document has one)" {
		t.Errorf("two roots: %v", got.err)
	}
}

// TestTypesFromTheFirstRecords: a field has one type for the file, from
// its first records, whatever the batch size.
func TestTypesFromTheFirstRecords(t *testing.T) {
	var doc strings.Builder
	doc.WriteString("<r>")
	for i := range 1500 {
		switch {
		case i == 3:
			doc.WriteString(`<row><s k="1">map</s><a>1</a><a>2</a></row>`)
		case i == 1200:
			doc.WriteString(`<row><s k="2">late map</s><a>3</a><late>x</late></row>`)
		default:
			doc.WriteString(`<row><s>text</s><a>0</a></row>`)
		}
	}
	doc.WriteString("</r>")
	for _, batch := range []int{1, 7, 10000} {
		got := readAll(t, doc.String(), fileformat.DecodeOptions{}, batch)
		if got.err != nil {
			t.Fatal(got.err)
		}
		if diff := cmp.Diff(map[string]etl.Type{"s": etl.TypeJSON, "a": etl.TypeJSON, "late": etl.TypeString}, got.types); diff != "" {
			t.Errorf("batch %d: types (-want +got):\n%s", batch, diff)
		}
		if diff := cmp.Diff(map[string]any{"s": "text", "a": []any{"0"}}, got.rows[0]); diff != "" {
			t.Errorf("batch %d: row 0 (-want +got):\n%s", batch, diff)
		}
		if diff := cmp.Diff(map[string]any{"s": map[string]any{"@k": "2", "#text": "late map"}, "a": []any{"3"}, "late": "x"}, got.rows[1200]); diff != "" {
			t.Errorf("batch %d: row 1200 (-want +got):\n%s", batch, diff)
		}
	}
	// A string field that meets a map after the first records holds its
	// JSON text.
	got := readAll(t, "<r>"+strings.Repeat(`<row><s>a</s></row>`, typeSample)+`<row><s k="1">b</s></row></r>`, fileformat.DecodeOptions{}, 1)
	if diff := cmp.Diff([]map[string]any{{"s": "a"}, {"s": `{"#text":"b","@k":"1"}`}}, got.rows[typeSample-1:]); diff != "" {
		t.Errorf("string then map (-want +got):\n%s", diff)
	}
}

// TestResumeSkipsTheRecordsRead: a decoder started at the position after
// any batch delivers exactly the rows after it.
func TestResumeSkipsTheRecordsRead(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 40).Draw(t, "rows")
		var doc strings.Builder
		doc.WriteString("\uFEFF<?xml version=\"1.0\"?>\n<r xmlns:p=\"urn:p\">\n")
		for i := range n {
			fmt.Fprintf(&doc, "  <p:row n=\"%d\">\n    <v>%d</v>\n  </p:row>\n", i, i)
		}
		doc.WriteString("</r>\n")
		opts := fileformat.DecodeOptions{File: "in.xml"}
		d, err := NewDecoder(strings.NewReader(doc.String()), opts)
		if err != nil {
			t.Fatal(err)
		}
		batch := rapid.IntRange(1, 9).Draw(t, "batch")
		var all []map[string]any
		type pos struct {
			offset, line int64
			rows         int
		}
		var positions []pos
		for {
			b, err := d.Decode(context.Background(), batch)
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			for i := range b.Len() {
				all = append(all, b.Row(i))
			}
			off, line := d.Position()
			positions = append(positions, pos{off, line, len(all)})
			if err != nil {
				break
			}
		}
		if len(all) != n {
			t.Fatalf("%d rows, want %d", len(all), n)
		}
		p := rapid.SampledFrom(positions).Draw(t, "resume at")
		got := readAll(t, doc.String(), fileformat.DecodeOptions{File: "in.xml", Offset: p.offset, Line: p.line}, batch)
		if got.err != nil {
			t.Fatal(got.err)
		}
		var want []map[string]any
		for i := p.rows; i < n; i++ {
			want = append(want, map[string]any{"@n": fmt.Sprint(i), "v": fmt.Sprint(i)})
		}
		if diff := cmp.Diff(want, got.rows); diff != "" {
			t.Fatalf("resumed at %+v (-want +got):\n%s", p, diff)
		}
		for i, line := range got.lines {
			if wantLine := int64(3 + 3*(p.rows+i)); line != wantLine {
				t.Fatalf("row %d from line %d, want %d", p.rows+i, line, wantLine)
			}
		}
	})
}

// xmlText draws text XML can hold, markup and line breaks included.
func xmlText(t *rapid.T, label string, trimmed bool) string {
	s := rapid.StringOf(rapid.OneOf(
		rapid.SampledFrom([]rune("<>&\"' \t\r\n;]]>")),
		rapid.RuneFrom(nil, xmlRunes),
	)).Draw(t, label)
	if trimmed {
		s = strings.TrimSpace(s)
		if s == "" {
			s = "x"
		}
	}
	return s
}

// xmlRunes are characters XML 1.0 holds, beside the tab and line breaks.
var xmlRunes = &unicode.RangeTable{
	R16: []unicode.Range16{{Lo: 0x20, Hi: 0x7E, Stride: 1}, {Lo: 0xA0, Hi: 0xD7FF, Stride: 1}, {Lo: 0xE000, Hi: 0xFFFD, Stride: 1}},
	R32: []unicode.Range32{{Lo: 0x10000, Hi: 0x2FFFF, Stride: 1}},
}

var names = []string{"id", "name", "größe", "名前", "_x", "a.b", "a-b", "x1", "Ünï"}

// jsonValue draws a map (attributes, children, maybe text), a string, or
// when array is set an array of two or more of those: the values whose
// XML reads back as they were.
func jsonValue(t *rapid.T, depth int, array bool) any {
	if array {
		n := rapid.IntRange(2, 4).Draw(t, "items")
		items := make([]any, n)
		for i := range items {
			items[i] = jsonValue(t, depth, false)
		}
		return items
	}
	if depth <= 0 || rapid.IntRange(0, 2).Draw(t, "leaf") == 0 {
		return xmlText(t, "leaf", false)
	}
	m := map[string]any{}
	// At least one child or attribute, so that it is not read as text.
	for range rapid.IntRange(1, 3).Draw(t, "keys") {
		key := rapid.SampledFrom(names).Draw(t, "key")
		if rapid.Bool().Draw(t, "attr") {
			m["@"+key] = xmlText(t, "attr", false)
		} else {
			m[key] = jsonValue(t, depth-1, rapid.IntRange(0, 3).Draw(t, "array") == 0)
		}
	}
	if rapid.Bool().Draw(t, "text") {
		m["#text"] = xmlText(t, "text", true)
	}
	return m
}

// TestRoundTrip: random rows written by the encoder read back through the
// decoder to the same rows (nulls as absent fields): strings with markup,
// line breaks and any Unicode XML holds, attributes (@), text (#text),
// nested maps and arrays.
func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		type spec struct {
			name string
			kind fieldKind
		}
		var fields []spec
		seen := map[string]bool{}
		for range rapid.IntRange(1, 6).Draw(t, "fields") {
			name := rapid.SampledFrom(append(append([]string{"#text"}, names...), "@id", "@ключ", "@a-b")).Draw(t, "field")
			if seen[name] {
				continue
			}
			seen[name] = true
			kind := kindString
			if !strings.HasPrefix(name, "@") && !strings.HasPrefix(name, "#") {
				kind = rapid.SampledFrom([]fieldKind{kindString, kindMap, kindArray}).Draw(t, "kind")
			}
			fields = append(fields, spec{name, kind})
		}
		var schemaFields []etl.Field
		for _, f := range fields {
			typ := etl.TypeString
			if f.kind != kindString {
				typ = etl.TypeJSON
			}
			schemaFields = append(schemaFields, etl.Field{Name: f.name, Type: typ})
		}
		schema := etl.MustSchema(schemaFields...)
		n := rapid.IntRange(0, 20).Draw(t, "rows")
		var want []map[string]any
		var buf bytes.Buffer
		enc := NewEncoder(&buf, fileformat.EncodeOptions{File: "out.xml"})
		b := etl.NewBatch(schema, n)
		for i := range n {
			row := map[string]any{}
			for j, f := range fields {
				var v any
				if rapid.IntRange(0, 4).Draw(t, "null") > 0 {
					switch f.kind {
					case kindString:
						v = xmlText(t, "string", f.name == "#text")
					case kindMap:
						v = jsonValue(t, 3, false)
						if _, isMap := v.(map[string]any); !isMap {
							v = map[string]any{"k": v}
						}
					case kindArray:
						v = jsonValue(t, 2, true)
					}
					row[f.name] = v
				}
				if err := b.Cols[j].Append(v); err != nil {
					t.Fatal(err)
				}
			}
			b.Origins = append(b.Origins, etl.Origin{File: "in", Line: int64(i + 1)})
			want = append(want, row)
		}
		if err := enc.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := enc.Finish(); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, buf.String(), fileformat.DecodeOptions{}, rapid.IntRange(1, 25).Draw(t, "batch"))
		if got.err != nil {
			t.Fatalf("%v\n%s", got.err, buf.String())
		}
		if diff := cmp.Diff(want, got.rows); diff != "" && !(n == 0 && len(got.rows) == 0) {
			t.Fatalf("rows read back (-want +got):\n%s\n%s", diff, buf.String())
		}
		for name, typ := range got.types {
			if wantType := schema.Field(schema.Index(name)).Type; typ != wantType {
				t.Fatalf("field %s read back as %s, written as %s", name, typ, wantType)
			}
		}
	})
}

func TestEncoderRefusesWhatXMLCannotHold(t *testing.T) {
	for _, tc := range []struct {
		field etl.Field
		value any
		want  string
	}{
		{etl.Field{Name: "first name", Type: etl.TypeString}, "x", `out.xml: field "first name": "first name" is not an XML name`},
		{etl.Field{Name: "1st", Type: etl.TypeString}, "x", `"1st" is not an XML name`},
		{etl.Field{Name: "p:x", Type: etl.TypeString}, "x", `"p:x" is not an XML name`},
		{etl.Field{Name: "j", Type: etl.TypeJSON}, []any{[]any{"a"}}, `field "j": an array inside an array has no XML form`},
		{etl.Field{Name: "@j", Type: etl.TypeJSON}, map[string]any{"a": "b"}, `field "@j": a map has no XML form here`},
	} {
		b := etl.NewBatch(etl.MustSchema(tc.field), 1)
		b.Cols[0].Append(tc.value)
		b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: 2})
		err := NewEncoder(io.Discard, fileformat.EncodeOptions{File: "out.xml"}).Write(b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.field.Name, err, tc.want)
		}
	}
	// Control characters become U+FFFD; CR survives as a reference.
	b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "s", Type: etl.TypeString}), 1)
	b.Cols[0].Append("a\x00b\r\nc")
	b.Origins = append(b.Origins, etl.Origin{})
	var buf bytes.Buffer
	e := NewEncoder(&buf, fileformat.EncodeOptions{})
	e.Write(b)
	e.Finish()
	if !regexp.MustCompile(`<s>a\x{FFFD}b&#xD;\nc</s>`).MatchString(buf.String()) {
		t.Errorf("escaped: %q", buf.String())
	}
}

// TestBatchesAreBoundedByText: a batch ends once it has read batchText of
// XML, whatever the batch size asked, and the rows are all delivered.
func TestBatchesAreBoundedByText(t *testing.T) {
	defer func(old int64) { batchText = old }(batchText)
	batchText = 1000
	var doc strings.Builder
	doc.WriteString("<r>\n")
	for i := range 50 {
		fmt.Fprintf(&doc, "<row><id>%d</id><v>%s</v></row>\n", i, strings.Repeat("x", 90))
	}
	doc.WriteString("</r>\n")
	d, err := NewDecoder(strings.NewReader(doc.String()), fileformat.DecodeOptions{File: "in.xml"})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for {
		b, err := d.Decode(context.Background(), 10000)
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if b.Len() > 10 {
			t.Fatalf("a batch of %d rows of about 120 bytes each, want at most 10 for 1000 bytes", b.Len())
		}
		total += b.Len()
		if err != nil {
			break
		}
	}
	if total != 50 {
		t.Errorf("%d rows, want 50", total)
	}
}
