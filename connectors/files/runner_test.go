package files_test

import (
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/connectors/sqlite"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// loadEnv is a project folder with a state store and a SQLite warehouse,
// into which jobs of a files source load table "t" (append).
type loadEnv struct {
	t     *testing.T
	dir   string
	store *sqlitestore.Store
	db    *sql.DB
	// logger, when set, hears the runs' logs.
	logger *slog.Logger
	// clock, when set, is the runs' clock.
	clock etl.Clock
}

func setupLoad(t *testing.T) *loadEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := sql.Open("sqlite3", filepath.Join(dir, "warehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &loadEnv{t: t, dir: dir, store: st, db: db}
}

// failingTarget fails its Write of the batch numbered failAt (1-based,
// within the run) and passes the others to the wrapped target.
type failingTarget struct {
	etl.Target
	failAt, n int
}

func (f *failingTarget) Write(ctx context.Context, b *etl.Batch) error {
	f.n++
	if f.n == f.failAt {
		return errors.New("target down")
	}
	return f.Target.Write(ctx, b)
}

// run runs one job reading cfg into table t; failAt > 0 makes the target
// fail at that batch.
func (e *loadEnv) run(cfg files.SourceConfig, batchSize, failAt int) (etl.Run, error) {
	e.t.Helper()
	if cfg.CSV.Delimiter == "" {
		cfg.CSV = fileformat.DefaultCSVOptions()
	}
	src, err := files.NewSource(cfg, etl.BuildEnv{BaseDir: e.dir})
	if err != nil {
		e.t.Fatal(err)
	}
	conn := &etl.Connection{Name: "w", Type: "sqlite", Config: &sqlite.ConnConfig{Path: "warehouse.db"}}
	tgt, err := sqlite.New(&sqlite.TargetConfig{Table: "t", Mode: sqlite.ModeAppend, Schema: sqlite.SchemaEvolve},
		etl.BuildEnv{BaseDir: e.dir, Connection: conn})
	if err != nil {
		e.t.Fatal(err)
	}
	if failAt > 0 {
		tgt = &failingTarget{Target: tgt, failAt: failAt}
	}
	job := &etl.Job{Name: "load", Source: src, BatchSize: batchSize,
		Targets: []etl.NamedTarget{{Name: "targets[0] table t", Target: tgt}}}
	r := &etl.Runner{Store: e.store, Logger: e.logger, Clock: e.clock}
	return r.Run(context.Background(), job, etl.RunOptions{})
}

// ids returns column id of table t, sorted.
func (e *loadEnv) ids() []string {
	e.t.Helper()
	rows, err := e.db.Query(`SELECT id FROM t ORDER BY CAST(id AS INTEGER), id`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil
		}
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func (e *loadEnv) ledger() []etl.FileRecord {
	e.t.Helper()
	recs, err := e.store.Files(context.Background(), "load")
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// csvRows returns a CSV with header id,name and rows from..to-1.
func csvRows(from, to int) string {
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%d,name %d\n", i, i)
	}
	return b.String()
}

func seq(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

func TestLedgerSameBytesUnderTwoNamesLoadOnce(t *testing.T) {
	e := setupLoad(t)
	writeFile(t, e.dir, "in/a.csv", csvRows(0, 3))
	cfg := files.SourceConfig{Path: "in/*.csv"}
	if _, err := e.run(cfg, 0, 0); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.dir, "in/copy-of-a.csv", csvRows(0, 3))
	run, err := e.run(cfg, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.Read != 0 {
		t.Errorf("second run read %d rows, want 0", run.Read)
	}
	if diff := cmp.Diff(seq(0, 3), e.ids()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if recs := e.ledger(); len(recs) != 1 || recs[0].Path != "in/a.csv" || recs[0].Rows != 3 {
		t.Errorf("ledger %+v, want in/a.csv with 3 rows only", recs)
	}
}

func TestLedgerChangedFileLoadsAgain(t *testing.T) {
	e := setupLoad(t)
	writeFile(t, e.dir, "in/a.csv", csvRows(0, 2))
	cfg := files.SourceConfig{Path: "in/*.csv"}
	if _, err := e.run(cfg, 0, 0); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.dir, "in/a.csv", csvRows(2, 5))
	run, err := e.run(cfg, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.Read != 3 {
		t.Errorf("second run read %d rows, want 3", run.Read)
	}
	if diff := cmp.Diff(seq(0, 5), e.ids()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if recs := e.ledger(); len(recs) != 2 {
		t.Errorf("ledger has %d entries, want 2 (one per content)", len(recs))
	}
}

func TestCrashMidFileResumesFromOffset(t *testing.T) {
	for _, failAt := range []int{2, 5, 7} {
		t.Run(fmt.Sprint("fail at batch ", failAt), func(t *testing.T) {
			e := setupLoad(t)
			writeFile(t, e.dir, "in/a.csv", csvRows(0, 25)) // batches of 4: 7 batches
			writeFile(t, e.dir, "in/b.csv", csvRows(25, 30))
			cfg := files.SourceConfig{Path: "in/*.csv"}
			first, err := e.run(cfg, 4, failAt)
			if err == nil || !strings.Contains(err.Error(), "target down") {
				t.Fatalf("first run err = %v, want the target's failure", err)
			}
			committed := int64(4 * (failAt - 1))
			if got := len(e.ids()); int64(got) != committed || first.Written != committed {
				t.Fatalf("after the crash the table holds %d rows (written %d), want %d", got, first.Written, committed)
			}
			second, err := e.run(cfg, 4, 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := 30 - committed; second.Read != want {
				t.Errorf("resumed run read %d rows, want %d (from the offset, not the start)", second.Read, want)
			}
			if diff := cmp.Diff(seq(0, 30), e.ids()); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			rows := map[string]int64{}
			for _, r := range e.ledger() {
				rows[r.Path] = r.Rows
			}
			if diff := cmp.Diff(map[string]int64{"in/a.csv": 25, "in/b.csv": 5}, rows); diff != "" {
				t.Errorf("ledger rows (-want +got):\n%s", diff)
			}
		})
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestArchiveOnlyAfterCheckpoint(t *testing.T) {
	e := setupLoad(t)
	writeFile(t, e.dir, "in/a.csv", csvRows(0, 3))
	writeFile(t, e.dir, "in/b.csv", csvRows(3, 10))
	writeFile(t, e.dir, "done/a.csv", "an older a.csv\n")
	cfg := files.SourceConfig{Path: "in/*.csv", Archive: "done"}

	// The target fails in b.csv's second batch: a.csv is checkpointed
	// and archived, b.csv stays.
	if _, err := e.run(cfg, 4, 3); err == nil {
		t.Fatal("run succeeded, want the target's failure")
	}
	if diff := cmp.Diff([]string{"b.csv"}, dirNames(t, filepath.Join(e.dir, "in"))); diff != "" {
		t.Errorf("inbox after the failed run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a-2.csv", "a.csv"}, dirNames(t, filepath.Join(e.dir, "done"))); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
	if got, _ := os.ReadFile(filepath.Join(e.dir, "done", "a-2.csv")); string(got) != csvRows(0, 3) {
		t.Errorf("archived a.csv holds %q", got)
	}
	if _, err := e.run(cfg, 4, 0); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, filepath.Join(e.dir, "in")); len(names) != 0 {
		t.Errorf("inbox still holds %v", names)
	}
	if diff := cmp.Diff([]string{"a-2.csv", "a.csv", "b.csv"}, dirNames(t, filepath.Join(e.dir, "done"))); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(seq(0, 10), e.ids()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

func TestArchiveCatchesUpAfterCrashBetweenCheckpointAndMove(t *testing.T) {
	e := setupLoad(t)
	writeFile(t, e.dir, "in/a.csv", csvRows(0, 3))
	// Loaded without an archive folder: as if the process died before
	// moving it.
	if _, err := e.run(files.SourceConfig{Path: "in/*.csv"}, 0, 0); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.dir, "in/dup.csv", csvRows(0, 3))
	run, err := e.run(files.SourceConfig{Path: "in/*.csv", Archive: "done"}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.Read != 0 {
		t.Errorf("read %d rows, want 0", run.Read)
	}
	if diff := cmp.Diff([]string{"a.csv", "dup.csv"}, dirNames(t, filepath.Join(e.dir, "done"))); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
}

func TestFailedFolder(t *testing.T) {
	e := setupLoad(t)
	writeFile(t, e.dir, "in/a.csv", csvRows(0, 3))
	writeFile(t, e.dir, "in/broken.csv.gz", "\x1f\x8bnot really gzip")
	writeFile(t, e.dir, "in/c.csv", csvRows(3, 5))
	cfg := files.SourceConfig{Path: "in/*", Format: "csv", Archive: "archive/done"}
	run, err := e.run(cfg, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.Rejected != 1 || run.Written != 5 {
		t.Errorf("run %+v, want 5 written and 1 rejected", run.Counters)
	}
	failed := filepath.Join(e.dir, "archive", "failed")
	if diff := cmp.Diff([]string{"broken.csv.gz", "broken.csv.gz.error.txt"}, dirNames(t, failed)); diff != "" {
		t.Fatalf("failed folder (-want +got):\n%s", diff)
	}
	note, _ := os.ReadFile(filepath.Join(failed, "broken.csv.gz.error.txt"))
	if !strings.Contains(string(note), "in/broken.csv.gz could not be loaded: gzip:") {
		t.Errorf("error file says %q", note)
	}
	q, err := e.store.Quarantined(context.Background(), "load", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Origin != "in/broken.csv.gz" || !strings.Contains(q[0].Reason, "moved to archive/failed/broken.csv.gz") {
		t.Errorf("quarantine %+v", q)
	}
	if diff := cmp.Diff(seq(0, 5), e.ids()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}

}

// TestUnreadableFilesAreSetAside: without a failed folder a file that
// cannot be read (a truncated gzip, cut after some of its rows; a link
// outside the root) failed the run, on every run, and the good files
// beside it never loaded. It is set aside: quarantined once with its
// reason, recorded in the ledger as failed, skipped while unchanged; the
// other files load; a changed file is read again.
func TestUnreadableFilesAreSetAside(t *testing.T) {
	e := setupLoad(t)
	writeFile(t, e.dir, "in/a.csv", csvRows(0, 3))
	var gz strings.Builder
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(csvRows(10, 4000)))
	zw.Close()
	truncated := gz.String()[:gz.Len()/2]
	writeFile(t, e.dir, "in/b.csv.gz", truncated)
	writeFile(t, e.dir, "in/c.csv", csvRows(3, 5))
	outside := t.TempDir()
	writeFile(t, outside, "secret.csv", csvRows(100, 101))
	if err := os.Symlink(filepath.Join(outside, "secret.csv"), filepath.Join(e.dir, "in", "evil.csv")); err != nil {
		t.Fatal(err)
	}
	cfg := files.SourceConfig{Path: "in/*", Format: "csv"}
	run, err := e.run(cfg, 500, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := e.ids()
	var fromB int
	for _, id := range ids {
		if n, _ := strconv.Atoi(id); n >= 10 {
			fromB++
		}
	}
	if fromB == 0 || fromB >= 3990 || len(ids) != 5+fromB {
		t.Fatalf("loaded %d rows of which %d from the truncated file; want a.csv and c.csv whole and b's rows up to the cut", len(ids), fromB)
	}
	if run.Rejected != 2 || run.Written != int64(len(ids)) {
		t.Errorf("run %+v, want 2 rejected and %d written", run.Counters, len(ids))
	}
	q, err := e.store.Quarantined(context.Background(), "load", 0)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, r := range q {
		reasons[r.Origin] = r.Reason
	}
	if r := reasons["in/b.csv.gz"]; !strings.Contains(r, "file set aside: read: gzip: unexpected EOF") || !strings.Contains(r, fmt.Sprintf("after %d rows", fromB)) {
		t.Errorf("quarantine of the truncated file: %q", r)
	}
	if r := reasons["in/evil.csv"]; !strings.Contains(r, "resolves to") {
		t.Errorf("quarantine of the link outside the root: %q", r)
	}
	ledger := map[string]string{}
	for _, f := range e.ledger() {
		ledger[f.Path] = f.Status
	}
	if diff := cmp.Diff(map[string]string{"in/a.csv": "loaded", "in/b.csv.gz": "failed", "in/c.csv": "loaded", "in/evil.csv": "failed"}, ledger); diff != "" {
		t.Errorf("ledger (-want +got):\n%s", diff)
	}

	// Unchanged, they are skipped: nothing read, nothing quarantined again.
	run, err = e.run(cfg, 500, 0)
	if err != nil || run.Read != 0 || run.Rejected != 0 {
		t.Fatalf("second run %+v, %v: want nothing read or rejected", run.Counters, err)
	}
	// Fixed, the file loads (its first rows a second time: append).
	writeFile(t, e.dir, "in/b.csv.gz", gzipped(t, csvRows(10, 4000)))
	run, err = e.run(cfg, 500, 0)
	if err != nil || run.Read != 3990 || run.Rejected != 0 {
		t.Fatalf("run after the fix %+v, %v: want b's 3990 rows", run.Counters, err)
	}
}

func TestPathsOutsideRootRefused(t *testing.T) {
	e := setupLoad(t)
	outside := t.TempDir()
	writeFile(t, outside, "secret.csv", csvRows(100, 101))
	writeFile(t, e.dir, "in/a.csv", csvRows(0, 1))
	writeFile(t, e.dir, "in/b.csv", csvRows(1, 2))
	if err := os.Symlink(filepath.Join(outside, "secret.csv"), filepath.Join(e.dir, "in", "evil.csv")); err != nil {
		t.Fatal(err)
	}
	// A link within the root is fine.
	if err := os.Symlink(filepath.Join(e.dir, "in", "a.csv"), filepath.Join(e.dir, "in", "link-to-a.csv")); err != nil {
		t.Fatal(err)
	}
	// With a failed folder the link (not its target) moves there.
	if _, err := e.run(files.SourceConfig{Path: "in/*.csv", Failed: "failed"}, 0, 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(seq(0, 2), e.ids()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if st, err := os.Lstat(filepath.Join(e.dir, "failed", "evil.csv")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("failed/evil.csv: %v, %v; want the symbolic link", st, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "secret.csv")); err != nil {
		t.Errorf("the link's target was touched: %v", err)
	}

	for _, cfg := range []files.SourceConfig{
		{Path: "../*.csv"},
		{Path: "in/../../x/*.csv"},
		{Path: "in/*.csv", Archive: "../done"},
	} {
		cfg.CSV = fileformat.DefaultCSVOptions()
		_, err := files.NewSource(cfg, etl.BuildEnv{BaseDir: e.dir})
		var fe *etl.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, files.ErrOutsideRoot) {
			t.Errorf("%+v: err = %v, want a FieldError for a path outside the root", cfg, err)
		}
	}
	if _, err := files.NewSource(files.SourceConfig{Path: "../*.csv", Root: "..", CSV: fileformat.DefaultCSVOptions()}, etl.BuildEnv{BaseDir: e.dir}); err != nil {
		t.Errorf("with root set: %v", err)
	}
}

func TestSettleWaitsForYoungFiles(t *testing.T) {
	e := setupLoad(t)
	writeFile(t, e.dir, "in/a.csv", csvRows(0, 2))
	// On a fake clock showing the file just written, the source waits the
	// settle time on that clock (its Sleep moves it on at once).
	st, err := os.Stat(filepath.Join(e.dir, "in", "a.csv"))
	if err != nil {
		t.Fatal(err)
	}
	clock := etltest.NewClock(st.ModTime())
	e.clock = clock
	run, err := e.run(files.SourceConfig{Path: "in/*.csv", Settle: 300 * time.Millisecond}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if slept := clock.Slept(); slept != 300*time.Millisecond || run.Read != 2 {
		t.Errorf("read %d rows after waiting %s of the clock; want 2 after waiting for the file to settle (300ms)", run.Read, slept)
	}
	e.clock = nil // the growing file below grows on the real clock

	// A file that keeps growing is left for the next run.
	path := filepath.Join(e.dir, "in", "growing.csv")
	writeFile(t, e.dir, "in/growing.csv", "id,name\n")
	stop := make(chan struct{})
	var appended atomic.Int64
	go func() {
		f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		defer f.Close()
		for i := 100; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				fmt.Fprintf(f, "%d,x\n", i)
				appended.Add(1)
			}
		}
	}()
	// The appends come every 10 ms; a settle of 25 times that holds on a
	// loaded machine (60 ms did not).
	run, err = e.run(files.SourceConfig{Path: "in/*.csv", Settle: 250 * time.Millisecond}, 0, 0)
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	if run.Read != 0 || appended.Load() == 0 {
		t.Errorf("read %d rows of a file still growing, want 0", run.Read)
	}
}

// TestArchiveFailureFailsTheRun: a loaded file that cannot be moved to the
// archive fails the run, naming the file (it was logged and forgotten);
// its rows stay loaded and recorded, so the next run reads nothing again.
func TestArchiveFailureFailsTheRun(t *testing.T) {
	e := setupLoad(t)
	writeFile(t, e.dir, "in/a.csv", csvRows(0, 3))
	writeFile(t, e.dir, "done", "a file where the archive folder should be\n")
	cfg := files.SourceConfig{Path: "in/*.csv", Archive: "done"}
	_, err := e.run(cfg, 2, 0)
	if err == nil || !strings.Contains(err.Error(), "in/a.csv") || !strings.Contains(err.Error(), "archive") {
		t.Fatalf("run: %v; want the archive failure naming in/a.csv", err)
	}
	if testing.Verbose() {
		t.Log(err)
	}
	if diff := cmp.Diff(seq(0, 3), e.ids()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	os.Remove(filepath.Join(e.dir, "done"))
	run, err := e.run(cfg, 2, 0)
	if err != nil || run.Read != 0 {
		t.Fatalf("rerun: read %d, %v; want nothing read", run.Read, err)
	}
	if diff := cmp.Diff([]string{"a.csv"}, dirNames(t, filepath.Join(e.dir, "done"))); diff != "" {
		t.Errorf("archive after the rerun (-want +got):\n%s", diff)
	}
}
