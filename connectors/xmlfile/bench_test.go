package xmlfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/csvfile"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// leads renders n leads (the fields of ../shared/bench/gen-leads) as CSV
// and as namespaced XML, the same records in both.
func leads(n int) (csvText, xmlText []byte) {
	var c, x bytes.Buffer
	c.WriteString("id,email,first_name,last_name,company,phone,source,score,created_at,notes\n")
	x.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<crm:leads xmlns:crm="urn:example:crm" xmlns:l="urn:example:lead">` + "\n")
	sources := []string{"chatbot", "webform", "import", "event"}
	for i := range n {
		email := fmt.Sprintf("user%d@example.com", i)
		notes, xnotes := "none", "none"
		if i%5 == 0 {
			notes = fmt.Sprintf("\"asked about pricing, plan %d\nfollow up \"\"soon\"\"\"", i%7)
			xnotes = fmt.Sprintf("asked about pricing, plan %d\nfollow up &quot;soon&quot;", i%7)
		}
		fmt.Fprintf(&c, "%d,%s,First%d,Last%d,\"Company %d, Inc.\",+1-415-555-%04d,%s,%d,2026-11-%02dT%02d:15:00Z,%s\n",
			i, email, i%1000, i%3001, i%997, i%10000, sources[i%4], i%101, 1+i%28, i%24, notes)
		fmt.Fprintf(&x, "  <l:lead id=\"%d\"><l:email>%s</l:email><l:first_name>First%d</l:first_name><l:last_name>Last%d</l:last_name>"+
			"<l:company>Company %d, Inc.</l:company><l:phone>+1-415-555-%04d</l:phone><l:source>%s</l:source><l:score>%d</l:score>"+
			"<l:created_at>2026-11-%02dT%02d:15:00Z</l:created_at><l:notes>%s</l:notes></l:lead>\n",
			i, email, i%1000, i%3001, i%997, i%10000, sources[i%4], i%101, 1+i%28, i%24, xnotes)
	}
	x.WriteString("</crm:leads>\n")
	return c.Bytes(), x.Bytes()
}

func decodeAll(b *testing.B, d fileformat.Decoder) int {
	rows := 0
	for {
		batch, err := d.Decode(context.Background(), etl.DefaultBatchSize)
		if err != nil && !errors.Is(err, io.EOF) {
			b.Fatal(err)
		}
		rows += batch.Len()
		if err != nil {
			return rows
		}
	}
}

// BenchmarkXMLRead reads 100k leads as namespaced XML (record_path
// crm:leads/l:lead) and, in the same run, as CSV: compare their rows/s.
func BenchmarkXMLRead(b *testing.B) {
	const n = 100_000
	csvText, xmlText := leads(n)
	b.Run("xml", func(b *testing.B) {
		b.SetBytes(int64(len(xmlText)))
		b.ReportAllocs()
		opts := fileformat.DecodeOptions{File: "leads.xml", XML: fileformat.XMLOptions{
			RecordPath: "c:leads/l:lead", Namespaces: map[string]string{"c": "urn:example:crm", "l": "urn:example:lead"}}}
		for b.Loop() {
			d, err := NewDecoder(bytes.NewReader(xmlText), opts)
			if err != nil {
				b.Fatal(err)
			}
			if rows := decodeAll(b, d); rows != n {
				b.Fatalf("%d rows, want %d", rows, n)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("csv", func(b *testing.B) {
		b.SetBytes(int64(len(csvText)))
		b.ReportAllocs()
		opts := fileformat.DecodeOptions{File: "leads.csv", CSV: fileformat.DefaultCSVOptions()}
		for b.Loop() {
			d, err := csvfile.NewDecoder(bytes.NewReader(csvText), opts)
			if err != nil {
				b.Fatal(err)
			}
			if rows := decodeAll(b, d); rows != n {
				b.Fatalf("%d rows, want %d", rows, n)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
