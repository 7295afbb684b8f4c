package files_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestHashFedByTheDecoder reads random CSV and JSON Lines files (a BOM or
// not, CRLF, quoted line breaks, malformed records) in random batch sizes
// and checks that each batch's position holds the SHA-256 of the file's
// bytes before its offset and the file's ledger entry the whole file's,
// with the hash fed by the decoder as it reads: not one byte read again
// from the file to hash it.
func TestHashFedByTheDecoder(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		jsonl := rapid.Bool().Draw(rt, "jsonl")
		var b strings.Builder
		if rapid.Bool().Draw(rt, "bom") {
			b.WriteString("\uFEFF")
		}
		eol := rapid.SampledFrom([]string{"\n", "\r\n"}).Draw(rt, "eol")
		name := "leads.csv"
		if jsonl {
			name = "leads.jsonl"
		} else {
			b.WriteString("id,note" + eol)
		}
		rows := rapid.IntRange(1, 80).Draw(rt, "rows")
		// A Windows-1252 é in one row: the file is found not to be UTF-8
		// there and read decoded from then on, so it is hashed again whole.
		latin := -1
		if rapid.IntRange(0, 3).Draw(rt, "latin") == 0 {
			latin = rapid.IntRange(0, rows-1).Draw(rt, "latin row")
		}
		for i := range rows {
			if i == latin {
				b.WriteString(map[bool]string{true: `{"id":-1,"note":"caf` + "\xe9" + `"}`, false: "-1,caf\xe9"}[jsonl] + eol)
			}
			bad := rapid.IntRange(0, 10).Draw(rt, "bad") == 0
			switch {
			case jsonl && bad:
				b.WriteString(`{"id":`)
			case jsonl:
				fmt.Fprintf(&b, `{"id":%d,"note":"n\n%d"}`, i, i)
			case bad:
				fmt.Fprintf(&b, `%d,"x"y`, i)
			default:
				fmt.Fprintf(&b, "%d,\"line%sbreak %d\"", i, eol, i)
			}
			b.WriteString(eol)
		}
		data := b.String()
		writeFile(t, dir, name, data)
		before := files.HashReadBytes()
		src := newSource(t, dir, files.SourceConfig{Path: name})
		res := readAll(t, src, etl.SourceEnv{Job: "j", BatchSize: rapid.IntRange(1, 30).Draw(rt, "batch")})
		if len(res.Positions) == 0 || res.Positions[0].Prefix == "" && latin < 0 {
			rt.Fatalf("positions %+v: not read while hashed", res.Positions)
		}
		for _, p := range res.Positions {
			if p.Prefix != "" && p.Prefix != sum(data[:p.Offset]) {
				rt.Fatalf("position at %d holds hash %s, want the file's first %d bytes' %s", p.Offset, p.Prefix, p.Offset, sum(data[:p.Offset]))
			}
			if p.SHA256 != "" && p.SHA256 != sum(data) {
				rt.Fatalf("position at %d holds the whole hash %s, want the file's %s", p.Offset, p.SHA256, sum(data))
			}
		}
		if len(res.Done) != 1 || res.Done[0].SHA256 != sum(data) {
			rt.Fatalf("ledger entries %+v, want one with the file's hash %s", res.Done, sum(data))
		}
		if n := files.HashReadBytes() - before; n != 0 && latin < 0 {
			rt.Fatalf("the hash read %d bytes of the file again", n)
		}
	})
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
