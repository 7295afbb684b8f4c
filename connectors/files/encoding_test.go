package files_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestOneStrayByteKeepsAFileUTF8: a UTF-8 file with one invalid byte on
// its last line was read whole as Windows-1252, every Müller becoming
// MÃ¼ller, without a word. It stays UTF-8; the bad byte becomes U+FFFD,
// and the log says so with its line. A file that is Windows-1252 (its
// non-ASCII bytes form no UTF-8) is still read as such, and says so.
func TestOneStrayByteKeepsAFileUTF8(t *testing.T) {
	const rows = 2000
	var utf8File strings.Builder
	utf8File.WriteString("id,name\n")
	for i := 1; i < rows; i++ {
		fmt.Fprintf(&utf8File, "%d,Müller %d\n", i, i)
	}
	fmt.Fprintf(&utf8File, "%d,Gr\xfcn\n", rows) // a Windows-1252 ü in a UTF-8 file
	latin := strings.NewReplacer("ü", "\xfc").Replace(utf8File.String())

	for _, tc := range []struct {
		name, content   string
		want1, wantLast string
		log             string
	}{
		{"utf-8 with a stray byte", utf8File.String(), "Müller 1", "Gr\uFFFDn",
			fmt.Sprintf("UTF-8 with 1 invalid byte(s), the first on line %d", rows+1)},
		{"windows-1252", latin, "Müller 1", "Grün", "read as Windows-1252"},
		{"ascii and one odd byte", "id,name\n1,Muller 1\n2,Gr\xfcn\n", "Muller 1", "Grün", "read as Windows-1252"},
	} {
		for _, name := range []string{"in.csv", "in.csv.gz"} {
			t.Run(tc.name+" "+name, func(t *testing.T) {
				dir := t.TempDir()
				content := tc.content
				if strings.HasSuffix(name, ".gz") {
					content = gzipped(t, content)
				}
				writeFile(t, dir, name, content)
				var logs bytes.Buffer
				res := readAll(t, newSource(t, dir, files.SourceConfig{Path: name}),
					etl.SourceEnv{Job: "j", BatchSize: 500, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
				if len(res.Rows) == 0 {
					t.Fatalf("no rows; rejects %v", res.Rejects)
				}
				first, last := res.Rows[0].Values[1], res.Rows[len(res.Rows)-1].Values[1]
				if first != tc.want1 || last != tc.wantLast {
					t.Errorf("first name %q, last %q; want %q and %q", first, last, tc.want1, tc.wantLast)
				}
				if !strings.Contains(logs.String(), tc.log) {
					t.Errorf("log lacks %q:\n%s", tc.log, logs.String())
				}
			})
		}
	}
}
