package files_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	_ "github.com/nightjar-etl/nightjar/connectors/csvfile"
	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	_ "github.com/nightjar-etl/nightjar/connectors/jsonfile"
	"github.com/nightjar-etl/nightjar/etl"
)

// fakeLedger answers LedgerEntry from a set of hashes.
type fakeLedger struct {
	loaded map[string]bool
	asked  []string
}

func (l *fakeLedger) LedgerEntry(_ context.Context, job, sha string) (etl.FileRecord, bool, error) {
	l.asked = append(l.asked, sha)
	if l.loaded[sha] {
		return etl.FileRecord{Job: job, SHA256: sha, Status: "loaded"}, true, nil
	}
	return etl.FileRecord{}, false, nil
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// row is one delivered row with where it came from.
type row struct {
	File   string
	Line   int64
	Values []any
}

// result is what a source delivered, batch by batch.
type result struct {
	Rows      []row
	Rejects   []etl.Reject
	Done      []etl.FileDone
	Positions []files.Position
	// Cum is, per batch, the number of rows delivered up to its end.
	Cum   []int
	Bytes int64
}

func newSource(t *testing.T, dir string, cfg files.SourceConfig) *files.Source {
	t.Helper()
	if cfg.CSV.Delimiter == "" {
		cfg.CSV = fileformat.DefaultCSVOptions()
	}
	src, err := files.NewSource(cfg, etl.BuildEnv{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// readAll opens src with env and reads to the end, checking that no batch
// mixes files and that a batch that ends a file ends it last.
func readAll(t *testing.T, src etl.Source, env etl.SourceEnv) result {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, env); err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())
	var res result
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			return res
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Check(); err != nil {
			t.Fatal(err)
		}
		var pos files.Position
		if err := json.Unmarshal(b.Position, &pos); err != nil {
			t.Fatalf("position %s: %v", b.Position, err)
		}
		res.Positions = append(res.Positions, pos)
		for i := range b.Len() {
			if b.Origins[i].File != pos.File {
				t.Errorf("batch of %s holds a row of %s", pos.File, b.Origins[i].File)
			}
			vals := make([]any, len(b.Cols))
			for j := range b.Cols {
				vals[j] = b.Cols[j].Value(i)
			}
			res.Rows = append(res.Rows, row{b.Origins[i].File, b.Origins[i].Line, vals})
		}
		res.Cum = append(res.Cum, len(res.Rows))
		res.Rejects = append(res.Rejects, b.Rejects...)
		for i := range b.Files {
			b.Files[i].MTime = b.Files[i].MTime.Truncate(0)
		}
		res.Done = append(res.Done, b.Files...)
		res.Bytes += b.Bytes
	}
}

const (
	fileA = "id,name\n1,a\n2,\"b\r\nb\"\n3,c\n"
	fileB = "id,name\n4,d\n5,e\n"
)

func TestSourceReadsFilesInOrder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "in/b.csv", fileB)
	writeFile(t, dir, "in/a.csv", fileA)
	writeFile(t, dir, "in/empty.csv", "id,name\n")
	writeFile(t, dir, "in/skip.txt", "not csv")
	src := newSource(t, dir, files.SourceConfig{Path: "in/*.csv"})
	res := readAll(t, src, etl.SourceEnv{Job: "j", BatchSize: 2})

	wantRows := []row{
		{"in/a.csv", 2, []any{"1", "a"}},
		{"in/a.csv", 3, []any{"2", "b\r\nb"}},
		{"in/a.csv", 5, []any{"3", "c"}},
		{"in/b.csv", 2, []any{"4", "d"}},
		{"in/b.csv", 3, []any{"5", "e"}},
	}
	if diff := cmp.Diff(wantRows, res.Rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	var gotDone []string
	for _, d := range res.Done {
		gotDone = append(gotDone, d.Path)
		if len(d.SHA256) != 64 || d.Size == 0 || d.MTime.IsZero() {
			t.Errorf("file done %+v lacks hash, size or mtime", d)
		}
	}
	if diff := cmp.Diff([]string{"in/a.csv", "in/b.csv", "in/empty.csv"}, gotDone); diff != "" {
		t.Errorf("files done (-want +got):\n%s", diff)
	}
	if rows := []int64{res.Done[0].Rows, res.Done[1].Rows, res.Done[2].Rows}; !cmp.Equal(rows, []int64{3, 2, 0}) {
		t.Errorf("file rows %v, want [3 2 0]", rows)
	}
	// a.csv: 2 rows then 1; b.csv: 2 rows, then a zero-row batch ending it
	// is not needed (EOF seen); empty.csv: one zero-row batch.
	if got := len(res.Positions); got != 4 {
		t.Errorf("%d batches, want 4", got)
	}
	if want := int64(len(fileA) + len(fileB) + len("id,name\n")); res.Bytes != want {
		t.Errorf("bytes %d, want %d", res.Bytes, want)
	}
	last := res.Positions[1]
	if last.File != "in/a.csv" || last.Offset != int64(len(fileA)) || last.Line != 5 {
		t.Errorf("position after a.csv = %+v, want offset %d line 5", last, len(fileA))
	}
}

func TestSourceResumesMidFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", fileA)
	writeFile(t, dir, "b.csv", fileB)
	src := newSource(t, dir, files.SourceConfig{Path: "*.csv"})
	full := readAll(t, src, etl.SourceEnv{Job: "j", BatchSize: 1})

	for cut := range full.Positions {
		pos, err := json.Marshal(full.Positions[cut])
		if err != nil {
			t.Fatal(err)
		}
		// The files the cut position has finished are in the ledger.
		ledger := &fakeLedger{loaded: map[string]bool{}}
		for _, d := range full.Done {
			if d.Path < full.Positions[cut].File {
				ledger.loaded[d.SHA256] = true
			}
		}
		rest := readAll(t, newSource(t, dir, files.SourceConfig{Path: "*.csv"}),
			etl.SourceEnv{Job: "j", BatchSize: 1, Position: pos, Ledger: ledger})
		if diff := cmp.Diff(full.Rows[full.Cum[cut]:], rest.Rows, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("resume after batch %d (%+v) (-want +got):\n%s", cut, full.Positions[cut], diff)
		}
		if rest.Done[0].Rows != full.Done[len(full.Done)-len(rest.Done)].Rows {
			t.Errorf("resume after batch %d: file rows %d, want %d", cut, rest.Done[0].Rows, full.Done[len(full.Done)-len(rest.Done)].Rows)
		}
	}
}

func TestSourceLedgerSkip(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", fileA)
	writeFile(t, dir, "b.csv", fileB)
	first := readAll(t, newSource(t, dir, files.SourceConfig{Path: "*.csv"}), etl.SourceEnv{Job: "j"})
	ledger := &fakeLedger{loaded: map[string]bool{first.Done[0].SHA256: true}}

	res := readAll(t, newSource(t, dir, files.SourceConfig{Path: "*.csv"}), etl.SourceEnv{Job: "j", Ledger: ledger})
	if len(res.Rows) != 2 || res.Rows[0].File != "b.csv" {
		t.Errorf("rows %+v, want only b.csv's 2 rows", res.Rows)
	}
	if len(ledger.asked) != 2 {
		t.Errorf("ledger asked %d times, want 2", len(ledger.asked))
	}

	// Same bytes under another name: still skipped.
	writeFile(t, dir, "c.csv", fileA)
	res = readAll(t, newSource(t, dir, files.SourceConfig{Path: "*.csv"}), etl.SourceEnv{Job: "j", Ledger: ledger})
	if len(res.Rows) != 2 {
		t.Errorf("%d rows, want 2 (a.csv and its copy skipped)", len(res.Rows))
	}

	// A full refresh ignores the ledger, but still reads one content once:
	// c.csv, a copy of a.csv, is skipped.
	res = readAll(t, newSource(t, dir, files.SourceConfig{Path: "*.csv"}), etl.SourceEnv{Job: "j", Ledger: ledger, FullRefresh: true})
	if len(res.Rows) != 5 {
		t.Errorf("full refresh: %d rows, want 5", len(res.Rows))
	}
}

func TestSourceJSONLRejectsMalformedLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "m.jsonl", `{"id":1,"name":"a"}`+"\n"+`{"id":2,"name":`+"\n\n"+`{"id":3,"name":"c","tags":["x"]}`+"\n")
	res := readAll(t, newSource(t, dir, files.SourceConfig{Path: "*.jsonl"}), etl.SourceEnv{Job: "j"})
	wantRows := []row{
		{"m.jsonl", 1, []any{int64(1), "a", nil}},
		{"m.jsonl", 4, []any{int64(3), "c", []any{"x"}}},
	}
	if diff := cmp.Diff(wantRows, res.Rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if len(res.Rejects) != 1 {
		t.Fatalf("rejects %+v, want 1", res.Rejects)
	}
	r := res.Rejects[0]
	if r.Origin.Line != 2 || r.Reason != "line 2: unexpected end of JSON input" || r.Value != `{"id":2,"name":` {
		t.Errorf("reject %+v", r)
	}
}

func TestNewSourceErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  files.SourceConfig
		path []string
	}{
		{"no path", files.SourceConfig{CSV: fileformat.DefaultCSVOptions()}, []string{"path"}},
		{"bad glob", files.SourceConfig{Path: "in/[.csv", CSV: fileformat.DefaultCSVOptions()}, []string{"path"}},
		{"unknown extension", files.SourceConfig{Path: "in/*.dat", CSV: fileformat.DefaultCSVOptions()}, []string{"path"}},
		{"unknown format", files.SourceConfig{Path: "in/*", Format: "yaml", CSV: fileformat.DefaultCSVOptions()}, []string{"format"}},
		{"xml prefix not in namespaces", files.SourceConfig{Path: "in/*.xml", XML: fileformat.XMLOptions{RecordPath: "a/p:b"}, CSV: fileformat.DefaultCSVOptions()}, []string{"xml", "record_path"}},
		{"long delimiter", files.SourceConfig{Path: "in/*.csv", CSV: fileformat.CSVOptions{Delimiter: ";;", Header: true}}, []string{"csv", "delimiter"}},
		{"negative field bound", files.SourceConfig{Path: "in/*.csv", CSV: fileformat.CSVOptions{Delimiter: ",", Header: true, MaxFieldSize: -1}}, []string{"csv"}},
		{"record bound over 1 GiB", files.SourceConfig{Path: "in/*.csv", CSV: fileformat.CSVOptions{Delimiter: ",", Header: true, MaxRecordSize: fileformat.MaxCSVBound + 1}}, []string{"csv"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := files.NewSource(tc.cfg, etl.BuildEnv{BaseDir: t.TempDir()})
			var fe *etl.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FieldError", err)
			}
			if diff := cmp.Diff(tc.path, fe.Path); diff != "" {
				t.Errorf("path (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	spec, ok := etl.LookupSource("files")
	if !ok {
		t.Fatal(`source "files" not registered`)
	}
	cfg, ok := spec.Config().(*files.SourceConfig)
	if !ok || cfg.CSV != fileformat.DefaultCSVOptions() {
		t.Errorf("config defaults %+v", spec.Config())
	}
	if _, ok := etl.LookupTarget("file"); !ok {
		t.Fatal(`target "file" not registered`)
	}
}

// TestSourceLogsTheSettleWaitAndNoDuplicateKeys: a run that waits for a
// fresh file says so and for how long (a first run after init otherwise
// pauses in silence), and a ledger skip names the earlier run without
// repeating the logger's own "run" key.
func TestSourceLogsTheSettleWaitAndNoDuplicateKeys(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", fileA)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil)).With("run", 9)
	src := newSource(t, dir, files.SourceConfig{Path: "*.csv", Settle: 300 * time.Millisecond})
	first := readAll(t, src, etl.SourceEnv{Job: "j", Logger: logger})
	if !strings.Contains(logs.String(), "for a.csv to settle (settle: 300ms)") || !strings.Contains(logs.String(), `"msg":"waiting `) {
		t.Errorf("no settle wait logged:\n%s", logs.String())
	}
	logs.Reset()
	ledger := &fakeLedger{loaded: map[string]bool{first.Done[0].SHA256: true}}
	readAll(t, newSource(t, dir, files.SourceConfig{Path: "*.csv"}), etl.SourceEnv{Job: "j", Ledger: ledger, Logger: logger})
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Count(line, `"run":`) != 1 {
			t.Errorf("log line with %d \"run\" keys, want 1: %s", strings.Count(line, `"run":`), line)
		}
	}
	if !strings.Contains(logs.String(), "already loaded") {
		t.Errorf("no ledger skip logged:\n%s", logs.String())
	}
}
