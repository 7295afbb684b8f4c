package files_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestFileReadLogCountsRejectedRecords: the run's summary counts every
// record read, malformed ones (quarantined by the source) included; the
// "file read" line said "rows 40" for a file the summary called "read 41",
// so the two disagreed with nothing to say why. It now gives both.
func TestFileReadLogCountsRejectedRecords(t *testing.T) {
	dir := t.TempDir()
	// Four records: three good, one with a field too many.
	writeFile(t, dir, "a.csv", "id,name\n1,a\n2,b,extra\n3,\"c\nc\"\n4,d\n")
	var logs bytes.Buffer
	src := newSource(t, dir, files.SourceConfig{Path: "*.csv"})
	res := readAll(t, src, etl.SourceEnv{Job: "j", BatchSize: 2, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if len(res.Rows) != 3 || len(res.Rejects) != 1 {
		t.Fatalf("read %d rows and %d rejects, want 3 and 1", len(res.Rows), len(res.Rejects))
	}
	var line struct {
		Rows, Rejected int
	}
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"file read"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line.Rows != len(res.Rows) || line.Rejected != len(res.Rejects) {
		t.Errorf("file read logged rows %d, rejected %d; the source gave %d rows and %d rejects:\n%s",
			line.Rows, line.Rejected, len(res.Rows), len(res.Rejects), logs.String())
	}
}
