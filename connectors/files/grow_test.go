package files_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/files"
)

// TestGrowingFileLoadsOnlyItsNewLines: a chat log that got two more lines
// after it was loaded was loaded again from the top (3 + 5 = 8 rows for 5
// ids in an append table). A file that still begins with exactly the
// bytes loaded is read from where that load ended; one whose loaded part
// changed is a new file; the log says which.
func TestGrowingFileLoadsOnlyItsNewLines(t *testing.T) {
	for _, tc := range []struct{ name, head, line string }{
		{"csv", "id,name\n", "%d,n%d\n"},
		{"jsonl", "", `{"id":"%d","name":"n%d"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setupLoad(t)
			var logs bytes.Buffer
			e.logger = slog.New(slog.NewTextHandler(&logs, nil))
			path := filepath.Join(e.dir, "in", "chat."+tc.name)
			lines := func(from, to int) string {
				var b strings.Builder
				for i := from; i < to; i++ {
					fmt.Fprintf(&b, tc.line, i, i)
				}
				return b.String()
			}
			writeFile(t, e.dir, "in/chat."+tc.name, tc.head+lines(0, 3))
			cfg := files.SourceConfig{Path: "in/*", Format: tc.name}
			if run, err := e.run(cfg, 2, 0); err != nil || run.Read != 3 {
				t.Fatalf("first run: %+v, %v", run.Counters, err)
			}
			appendTo(t, path, lines(3, 5))
			run, err := e.run(cfg, 2, 0)
			if err != nil || run.Read != 2 || run.Written != 2 {
				t.Fatalf("after two lines more: %+v, %v; want the 2 new rows only", run.Counters, err)
			}
			if !strings.Contains(logs.String(), "grew since run 1 loaded it: reading its") {
				t.Errorf("no growth logged:\n%s", logs.String())
			}
			if diff := cmp.Diff(seq(0, 5), e.ids()); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			// It grows again: the newest load is the prefix now.
			appendTo(t, path, lines(5, 6))
			if run, err := e.run(cfg, 2, 0); err != nil || run.Read != 1 {
				t.Fatalf("after one line more: %+v, %v", run.Counters, err)
			}
			// Its loaded part changed: a new file, read whole.
			logs.Reset()
			writeFile(t, e.dir, "in/chat."+tc.name, tc.head+lines(100, 101)+lines(1, 7))
			if run, err := e.run(cfg, 2, 0); err != nil || run.Read != 7 {
				t.Fatalf("after an edit: %+v, %v; want the file read whole", run.Counters, err)
			}
			if !strings.Contains(logs.String(), "the part loaded is not the same): read as a new file") {
				t.Errorf("no change logged:\n%s", logs.String())
			}
		})
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
