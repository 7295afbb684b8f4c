package msgdecode

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	_ "github.com/nightjar-etl/nightjar/connectors/csvfile"
	_ "github.com/nightjar-etl/nightjar/connectors/jsonfile"
)

// TestLinesKeepTheirMessage: messages of one or more JSON lines (some
// malformed, some empty) decoded together: every record becomes a row
// carrying its own message's subject, sequence and origin line, every
// malformed line a reject naming its message, against a plain reference.
func TestLinesKeepTheirMessage(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d, err := New(Defaults())
		if err != nil {
			t.Fatal(err)
		}
		n := rapid.IntRange(1, 20).Draw(t, "messages")
		var msgs []Message
		type want struct {
			id, msg int
			line    int64
		}
		var rows []want
		bad := map[string]bool{}
		id := 0
		for i := range n {
			lines := rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("lines%d", i))
			var text []string
			for l := range lines {
				if rapid.IntRange(0, 9).Draw(t, fmt.Sprintf("bad%d.%d", i, l)) == 0 {
					text = append(text, `{"id": oops`)
					bad[fmt.Sprintf("m%d:%d", i, l+1)] = true
					continue
				}
				id++
				text = append(text, fmt.Sprintf(`{"id":%d}`, id))
				rows = append(rows, want{id: id, msg: i, line: int64(l + 1)})
			}
			payload := strings.Join(text, "\n")
			if rapid.Bool().Draw(t, fmt.Sprintf("nl%d", i)) && payload != "" {
				payload += "\n"
			}
			msgs = append(msgs, Message{Payload: []byte(payload), Subject: fmt.Sprintf("s.%d", i), Seq: uint64(100 + i), Origin: fmt.Sprintf("m%d", i)})
		}
		b, taken, err := d.Decode(context.Background(), msgs)
		if err != nil {
			t.Fatal(err)
		}
		if taken != n {
			t.Fatalf("took %d of %d messages", taken, n)
		}
		if b.Len() != len(rows) {
			t.Fatalf("%d rows, want %d", b.Len(), len(rows))
		}
		if len(rows) > 0 {
			ids, subj, seq := b.Col("id"), b.Col("_subject"), b.Col("_seq")
			for r, w := range rows {
				if ids.Int[r] != int64(w.id) || subj.Str[r] != msgs[w.msg].Subject || seq.Int[r] != int64(msgs[w.msg].Seq) ||
					b.Origins[r].File != msgs[w.msg].Origin || b.Origins[r].Line != w.line {
					t.Fatalf("row %d: id %d subject %s seq %d origin %v; want id %d of message %d line %d",
						r, ids.Int[r], subj.Str[r], seq.Int[r], b.Origins[r], w.id, w.msg, w.line)
				}
			}
		}
		if len(b.Rejects) != len(bad) {
			t.Fatalf("%d rejects, want %d", len(b.Rejects), len(bad))
		}
		for _, rj := range b.Rejects {
			if !bad[rj.Origin.String()] {
				t.Fatalf("reject at %v, want one of %v", rj.Origin, bad)
			}
		}
	})
}

// TestCSVMessages: CSV messages with one header each join while the
// header stays the same.
func TestCSVMessages(t *testing.T) {
	cfg := Defaults()
	cfg.Format = "csv"
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{
		{Payload: []byte("id,name\n1,a\n2,b\n"), Subject: "x", Origin: "m1"},
		{Payload: []byte("id,name\n3,c\n"), Subject: "y", Origin: "m2"},
	}
	b, n, err := d.Decode(context.Background(), msgs)
	if err != nil || n != 2 || b.Len() != 3 {
		t.Fatalf("decode: %v, %d messages, %d rows", err, n, b.Len())
	}
	if got := b.Col("_subject").Str; strings.Join(got, ",") != "x,x,y" {
		t.Fatalf("subjects %v", got)
	}
}
