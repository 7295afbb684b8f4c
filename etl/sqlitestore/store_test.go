package sqlitestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/internal/sqlstore"
	nsql "github.com/nightjar-etl/nightjar/sql"
)

// t0 has nanoseconds that a millisecond or microsecond representation
// would lose.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)

type bundle struct {
	ctx   context.Context
	store *Store
	path  string
}

func setup(t *testing.T) bundle {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state", "state.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return bundle{ctx: ctx, store: s, path: path}
}

func (b bundle) beginRun(t *testing.T, job string, at time.Time) int64 {
	t.Helper()
	id, err := b.store.BeginRun(b.ctx, job, "manual", at)
	if err != nil {
		t.Fatalf("BeginRun(%s): %v", job, err)
	}
	return id
}

func (b bundle) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := b.store.DB().GetContext(b.ctx, &n, `SELECT COUNT(*) FROM "`+table+`"`); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func knownVersions(t *testing.T) []int {
	t.Helper()
	ms, err := loadMigrations(nsql.StateMigrations, "state")
	if err != nil {
		t.Fatal(err)
	}
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.Version)
	}
	return vs
}

func appliedVersions(t *testing.T, s *Store) []int {
	t.Helper()
	var vs []int
	if err := s.DB().Select(&vs, `SELECT "version" FROM "schema_migrations" ORDER BY "version"`); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestOpenMigratesOnceAndKeepsData(t *testing.T) {
	t.Parallel()
	b := setup(t)
	want := knownVersions(t)
	if len(want) == 0 {
		t.Fatal("no embedded migrations")
	}
	if diff := cmp.Diff(want, appliedVersions(t, b.store)); diff != "" {
		t.Errorf("applied versions (-want +got):\n%s", diff)
	}
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "2", "busy_timeout": "10000"} {
		var got string
		if err := b.store.DB().Get(&got, "PRAGMA "+pragma); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
	id := b.beginRun(t, "leads", t0)
	if err := b.store.Close(); err != nil {
		t.Fatal(err)
	}

	again, err := Open(b.ctx, b.path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer again.Close()
	if diff := cmp.Diff(want, appliedVersions(t, again)); diff != "" {
		t.Errorf("applied versions after reopen (-want +got):\n%s", diff)
	}
	runs, err := again.Runs(b.ctx, "leads", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].ID != id {
		t.Errorf("runs after reopen = %+v, want run %d", runs, id)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.store.DB().Exec(`INSERT INTO "schema_migrations" ("version", "name", "applied_at") VALUES (9999, '9999_future.sql', '')`); err != nil {
		t.Fatal(err)
	}
	b.store.Close()
	s, err := Open(b.ctx, b.path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a newer database succeeded")
	}
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), b.path) {
		t.Errorf("Open error = %v, want ErrSchemaTooNew naming the path and version 9999", err)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fsys := fstest.MapFS{
		"m/0002_add_b.sql":  {Data: []byte(`ALTER TABLE "t" ADD COLUMN "b" TEXT;`)},
		"m/0001_create.sql": {Data: []byte(`CREATE TABLE "t" ("a" INTEGER); INSERT INTO "t" ("a") VALUES (1);`)},
		"m/0003_broken.sql": {Data: []byte(`CREATE TABLE "u" ("a" INTEGER); SELEC nothing;`)},
		"m/README.md":       {Data: []byte("not a migration")},
	}
	all, err := loadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range all {
		names = append(names, m.Name)
	}
	if diff := cmp.Diff([]string{"0001_create.sql", "0002_add_b.sql", "0003_broken.sql"}, names); diff != "" {
		t.Fatalf("migrations not in version order (-want +got):\n%s", diff)
	}

	odb, err := sqlx.Open("sqlite3", dsn(filepath.Join(t.TempDir(), "m.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer odb.Close()
	applied := func() []int {
		var vs []int
		if err := odb.Select(&vs, `SELECT "version" FROM "schema_migrations" ORDER BY "version"`); err != nil {
			t.Fatal(err)
		}
		return vs
	}

	if err := migrate(ctx, odb, all[:1]); err != nil {
		t.Fatalf("migrate v1: %v", err)
	}
	if err := migrate(ctx, odb, all[:2]); err != nil {
		t.Fatalf("migrate v2: %v", err)
	}
	if err := migrate(ctx, odb, all[:2]); err != nil {
		t.Fatalf("migrate v2 again: %v", err)
	}
	var rows int
	if err := odb.Get(&rows, `SELECT COUNT(*) FROM "t" WHERE "b" IS NULL`); err != nil {
		t.Fatalf("v2 not applied: %v", err)
	}
	if rows != 1 {
		t.Errorf("table t has %d rows, want 1 (v1 applied once)", rows)
	}

	err = migrate(ctx, odb, all)
	if err == nil || !strings.Contains(err.Error(), "0003_broken.sql") {
		t.Errorf("broken migration error = %v, want one naming 0003_broken.sql", err)
	}
	var u int
	if err := odb.Get(&u, `SELECT COUNT(*) FROM "sqlite_schema" WHERE "name" = 'u'`); err != nil {
		t.Fatal(err)
	}
	if u != 0 {
		t.Error("a failed migration left its first statement applied")
	}
	if diff := cmp.Diff([]int{1, 2}, applied()); diff != "" {
		t.Errorf("versions after a failed migration (-want +got):\n%s", diff)
	}

	if err := migrate(ctx, odb, all[:1]); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("migrate with fewer known versions = %v, want ErrSchemaTooNew", err)
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	t.Parallel()
	for name, fsys := range map[string]fstest.MapFS{
		"no number":  {"m/init.sql": {}},
		"zero":       {"m/0000_init.sql": {}},
		"not number": {"m/abc_init.sql": {}},
		"duplicate":  {"m/0001_a.sql": {}, "m/001_b.sql": {}},
	} {
		if _, err := loadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: loadMigrations succeeded", name)
		}
	}
}

func TestTimeRoundTrip(t *testing.T) {
	t.Parallel()
	berlin := time.FixedZone("CET", 3600)
	times := []time.Time{
		t0,
		time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC),
		time.Date(2025, 3, 14, 9, 26, 53, 100, time.UTC),
		time.Date(2025, 3, 14, 10, 26, 53, 500000000, berlin),
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Now(), // with a monotonic reading
	}
	for _, in := range times {
		var got sqlstore.Time
		if err := got.Scan(formatTime(in)); err != nil {
			t.Fatalf("scan %s: %v", formatTime(in), err)
		}
		if !got.Equal(in) || got.Location() != time.UTC {
			t.Errorf("round trip of %s = %s", in, got.Time)
		}
	}
	var zero sqlstore.Time
	for _, src := range []any{nil, ""} {
		if err := zero.Scan(src); err != nil || !zero.IsZero() {
			t.Errorf("Scan(%#v) = %v, %v; want the zero time", src, zero.Time, err)
		}
	}

	// Stored text sorts as the times do.
	sorted := slices.Clone(times)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	texts := make([]string, len(times))
	for i, tm := range times {
		texts[i] = formatTime(tm)
	}
	slices.Sort(texts)
	for i := range sorted {
		if texts[i] != formatTime(sorted[i]) {
			t.Errorf("text order differs from time order at %d: %s vs %s", i, texts[i], formatTime(sorted[i]))
		}
	}

	// And through the database.
	b := setup(t)
	for _, in := range times {
		id := b.beginRun(t, "times", in)
		runs, err := b.store.Runs(b.ctx, "times", 1)
		if err != nil {
			t.Fatal(err)
		}
		if runs[0].ID != id || !runs[0].StartedAt.Equal(in) || !runs[0].EndedAt.IsZero() {
			t.Errorf("run started %s read back as %+v", in, runs[0])
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cp, err := b.store.Checkpoint(b.ctx, "leads", "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(etl.Checkpoint{}, cp); diff != "" {
		t.Errorf("checkpoint before any commit (-want +got):\n%s", diff)
	}

	run := b.beginRun(t, "leads", t0)
	pos := etl.Position(`{"file":"in/a.csv","offset":1234,"line":  7}`)
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run, Job: "leads", Position: pos, Seq: 3, At: t0.Add(time.Second)}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	cp, err = b.store.Checkpoint(b.ctx, "leads", "")
	if err != nil {
		t.Fatal(err)
	}
	want := etl.Checkpoint{Job: "leads", Stream: "", Position: pos, Seq: 3, RunID: run, UpdatedAt: t0.Add(time.Second)}
	if diff := cmp.Diff(want, cp); diff != "" {
		t.Errorf("checkpoint (-want +got):\n%s", diff)
	}
	if string(cp.Position) != string(pos) {
		t.Errorf("position bytes = %s, want %s exactly", cp.Position, pos)
	}

	// A later commit replaces it; another stream is separate.
	pos2 := etl.Position(`{"cursor":"2025-03-14","key":42}`)
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run, Job: "leads", Position: pos2, Seq: 4, At: t0.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run, Job: "leads", Stream: "b", Position: nil, Seq: 1, At: t0.Add(3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	cps, err := b.store.Checkpoints(b.ctx, "leads")
	if err != nil {
		t.Fatal(err)
	}
	wantAll := []etl.Checkpoint{
		{Job: "leads", Stream: "", Position: pos2, Seq: 4, RunID: run, UpdatedAt: t0.Add(2 * time.Second)},
		{Job: "leads", Stream: "b", Position: nil, Seq: 1, RunID: run, UpdatedAt: t0.Add(3 * time.Second)},
	}
	if diff := cmp.Diff(wantAll, cps); diff != "" {
		t.Errorf("checkpoints (-want +got):\n%s", diff)
	}
	if cps[1].Position != nil {
		t.Errorf("nil position read back as %q", cps[1].Position)
	}
	if other, _ := b.store.Checkpoints(b.ctx, "other"); len(other) != 0 {
		t.Errorf("checkpoints of another job = %+v", other)
	}

	err = b.store.Commit(b.ctx, etl.Commit{RunID: run, Job: "leads", Position: etl.Position(`{"file":`), Seq: 5, At: t0})
	if err == nil {
		t.Error("Commit of a position that is not JSON succeeded")
	}
}

// state is everything a failed Commit must leave untouched.
type state struct {
	Checkpoint etl.Checkpoint
	Run        etl.Run
	Quarantine []etl.QuarantineRecord
	Files      []etl.FileRecord
}

func (b bundle) state(t *testing.T, job string) state {
	t.Helper()
	cp, err := b.store.Checkpoint(b.ctx, job, "")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := b.store.Runs(b.ctx, job, 1)
	if err != nil {
		t.Fatal(err)
	}
	q, err := b.store.Quarantined(b.ctx, job, 0)
	if err != nil {
		t.Fatal(err)
	}
	files, err := b.store.Files(b.ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	return state{cp, runs[0], q, files}
}

func TestCommitIsAllOrNothing(t *testing.T) {
	t.Parallel()
	rejects := []etl.Reject{
		{Step: "steps[0] cast", Origin: etl.Origin{File: "a.csv", Line: 2}, Reason: "bad"},
		{Step: "steps[0] cast", Origin: etl.Origin{File: "a.csv", Line: 3}, Reason: "bad"},
		{Step: "steps[0] cast", Origin: etl.Origin{File: "a.csv", Line: 4}, Reason: "bad"},
	}
	goodFile := etl.FileDone{Path: "a.csv", Size: 10, MTime: t0, SHA256: "aaaa", Rows: 4}
	next := func(run int64) etl.Commit {
		return etl.Commit{
			RunID: run, Job: "leads", Position: etl.Position(`{"line":5}`), Seq: 2,
			Counters: etl.Counters{Read: 8, Written: 5, Rejected: 3, Batches: 2, Bytes: 100},
			Rejects:  rejects, Files: []etl.FileDone{goodFile}, At: t0.Add(time.Minute),
		}
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, b bundle, run int64) etl.Commit
		wantErr string
	}{
		{
			// Fails on the last statement, after the run, position and
			// quarantine were written within the transaction.
			name: "file violates a constraint",
			prepare: func(t *testing.T, b bundle, run int64) etl.Commit {
				c := next(run)
				c.Files = []etl.FileDone{{Path: "b.csv", SHA256: "bbbb"}, {Path: "c.csv", SHA256: ""}}
				return c
			},
			wantErr: "file ledger c.csv",
		},
		{
			name: "storage fails inside the quarantine",
			prepare: func(t *testing.T, b bundle, run int64) etl.Commit {
				if _, err := b.store.DB().Exec(`CREATE TRIGGER "fail_third" BEFORE INSERT ON "quarantine"
WHEN NEW."origin" = 'a.csv:4' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`); err != nil {
					t.Fatal(err)
				}
				return next(run)
			},
			wantErr: "disk on fire",
		},
		{
			name: "run already ended",
			prepare: func(t *testing.T, b bundle, run int64) etl.Commit {
				if err := b.store.EndRun(b.ctx, run, etl.RunFailed, etl.Counters{Read: 1}, "boom", t0.Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				return next(run)
			},
			wantErr: "is failed, not running",
		},
		{
			name: "run of another job",
			prepare: func(t *testing.T, b bundle, run int64) etl.Commit {
				c := next(b.beginRun(t, "other", t0))
				return c
			},
			wantErr: "belongs to job other",
		},
		{
			name: "unknown run",
			prepare: func(t *testing.T, b bundle, run int64) etl.Commit {
				return next(run + 100)
			},
			wantErr: "not found",
		},
		{
			name: "cancelled context",
			prepare: func(t *testing.T, b bundle, run int64) etl.Commit {
				return next(run)
			},
			wantErr: "context canceled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			run := b.beginRun(t, "leads", t0)
			first := etl.Commit{
				RunID: run, Job: "leads", Position: etl.Position(`{"line":1}`), Seq: 1,
				Counters: etl.Counters{Read: 1, Written: 1, Batches: 1, Bytes: 10},
				Rejects:  []etl.Reject{{Step: "s", Origin: etl.Origin{File: "z.csv", Line: 1}, Reason: "r"}},
				Files:    []etl.FileDone{{Path: "z.csv", SHA256: "zzzz", MTime: t0}},
				At:       t0.Add(time.Second),
			}
			if err := b.store.Commit(b.ctx, first); err != nil {
				t.Fatal(err)
			}
			c := tt.prepare(t, b, run)
			before := b.state(t, "leads")

			ctx := b.ctx
			if tt.name == "cancelled context" {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				ctx = cctx
			}
			err := b.store.Commit(ctx, c)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Commit error = %v, want one containing %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(before, b.state(t, "leads")); diff != "" {
				t.Errorf("a failed Commit changed the state (-before +after):\n%s", diff)
			}
			if _, ok, _ := b.store.LedgerEntry(b.ctx, "leads", "bbbb"); ok {
				t.Error("a file of the failed commit is in the ledger")
			}
		})
	}
}

func TestQuarantine(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.beginRun(t, "leads", t0)
	rejects := []etl.Reject{
		{Step: "steps[1] cast", Origin: etl.Origin{File: "in/a.csv", Line: 12}, Field: "score", Value: "x", Reason: "not an int", Row: json.RawMessage(`{"score":"x"}`)},
		{Step: "steps[2] validate", Origin: etl.Origin{File: "in/b.xlsx", Sheet: "Leads", Row: 4}, Field: "email", Reason: "required", Row: json.RawMessage(`{"email":null}`)},
		{Step: "source", Origin: etl.Origin{Cursor: "2025-03-14T00:00:00Z"}, Reason: "no row"},
		{Step: "source", Origin: etl.Origin{File: "in/c.csv", Line: 3}, Reason: "bad quoting", Row: json.RawMessage(`a,"b`)},
	}
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run, Job: "leads", Seq: 1, Rejects: rejects[:2], At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run, Job: "leads", Seq: 2, Rejects: rejects[2:], At: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	got, err := b.store.Quarantined(b.ctx, "leads", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []etl.QuarantineRecord{
		{Job: "leads", RunID: run, At: t0.Add(time.Second), Step: "source", Origin: "in/c.csv:3", Reason: "bad quoting", RowJSON: `"a,\"b"`},
		{Job: "leads", RunID: run, At: t0.Add(time.Second), Step: "source", Origin: "cursor 2025-03-14T00:00:00Z", Reason: "no row"},
		{Job: "leads", RunID: run, At: t0, Step: "steps[2] validate", Origin: "in/b.xlsx[Leads]:4", Field: "email", Reason: "required", RowJSON: `{"email":null}`},
		{Job: "leads", RunID: run, At: t0, Step: "steps[1] cast", Origin: "in/a.csv:12", Field: "score", Value: "x", Reason: "not an int", RowJSON: `{"score":"x"}`},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(etl.QuarantineRecord{}, "ID")); diff != "" {
		t.Errorf("Quarantined (-want +got):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID >= got[i-1].ID {
			t.Errorf("quarantine not newest first: ids %d then %d", got[i-1].ID, got[i].ID)
		}
	}
	limited, err := b.store.Quarantined(b.ctx, "leads", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(limited) != 1 || limited[0].ID != got[0].ID {
		t.Errorf("Quarantined limit 1 = %+v, want the newest", limited)
	}
	if other, _ := b.store.Quarantined(b.ctx, "other", 0); len(other) != 0 {
		t.Errorf("quarantine of another job = %+v", other)
	}

	// The origin's parts are kept for a retry.
	var origin string
	if err := b.store.DB().Get(&origin, `SELECT "origin_json" FROM "quarantine" WHERE "origin" = 'in/b.xlsx[Leads]:4'`); err != nil {
		t.Fatal(err)
	}
	var o etl.Origin
	if err := json.Unmarshal([]byte(origin), &o); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rejects[1].Origin, o); diff != "" {
		t.Errorf("origin_json (-want +got):\n%s", diff)
	}
}

func TestFileLedger(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, ok, err := b.store.LedgerEntry(b.ctx, "leads", "aaaa"); ok || err != nil {
		t.Fatalf("LedgerEntry on an empty ledger = %v, %v", ok, err)
	}
	run := b.beginRun(t, "leads", t0)
	mtime := time.Date(2025, 3, 1, 8, 0, 0, 123456789, time.FixedZone("X", -5*3600))
	a := etl.FileDone{Path: "in/a.csv", Size: 100, MTime: mtime, SHA256: "aaaa", Rows: 9}
	bf := etl.FileDone{Path: "in/b.csv", Size: 200, MTime: mtime, SHA256: "bbbb", Rows: 19}
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run, Job: "leads", Seq: 1, Files: []etl.FileDone{a}, At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run, Job: "leads", Seq: 2, Files: []etl.FileDone{bf}, At: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := b.store.LedgerEntry(b.ctx, "leads", "aaaa")
	if err != nil || !ok {
		t.Fatalf("LedgerEntry(aaaa) = %v, %v", ok, err)
	}
	wantA := etl.FileRecord{Job: "leads", Path: "in/a.csv", Size: 100, MTime: mtime, SHA256: "aaaa", Status: "loaded", Rows: 9, RunID: run, LoadedAt: t0}
	if diff := cmp.Diff(wantA, rec); diff != "" {
		t.Errorf("LedgerEntry record (-want +got):\n%s", diff)
	}
	if _, ok, _ := b.store.LedgerEntry(b.ctx, "other", "aaaa"); ok {
		t.Error("a file loaded by leads counts as loaded by another job")
	}

	files, err := b.store.Files(b.ctx, "leads")
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{files[0].Path, files[1].Path}; !slices.Equal(got, []string{"in/b.csv", "in/a.csv"}) || len(files) != 2 {
		t.Errorf("Files = %v, want b then a (newest first)", got)
	}

	// The same content under another name is one ledger entry, updated.
	run2 := b.beginRun(t, "leads", t0.Add(time.Hour))
	moved := a
	moved.Path = "in/a-copy.csv"
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run2, Job: "leads", Seq: 3, Files: []etl.FileDone{moved}, At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	files, err = b.store.Files(b.ctx, "leads")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Path != "in/a-copy.csv" || files[0].RunID != run2 {
		t.Errorf("after reloading a's content: Files = %+v", files)
	}

	// A failed file is in the ledger as failed, staged or not.
	failed := etl.FileDone{Path: "in/bad.csv.gz", Size: 9, MTime: t0, SHA256: "ffff", Rows: 4, Failed: true}
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run2, Job: "leads", Seq: 4, Files: []etl.FileDone{failed}, At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if rec, ok, _ := b.store.LedgerEntry(b.ctx, "leads", "ffff"); !ok || rec.Status != "failed" || rec.Rows != 4 {
		t.Errorf("a failed file's entry: %+v, %t", rec, ok)
	}
	staged := etl.FileDone{Path: "in/bad2.csv.gz", Size: 9, MTime: t0, SHA256: "eeee", Failed: true}
	if err := b.store.Stage(b.ctx, etl.Commit{RunID: run2, Job: "leads", Files: []etl.FileDone{staged}, At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run2, Job: "leads", Seq: 5, At: t0.Add(time.Hour), Staged: true}); err != nil {
		t.Fatal(err)
	}
	if rec, ok, _ := b.store.LedgerEntry(b.ctx, "leads", "eeee"); !ok || rec.Status != "failed" {
		t.Errorf("a staged failed file's entry: %+v, %t", rec, ok)
	}
}

func TestRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a1 := b.beginRun(t, "a", t0)
	b1 := b.beginRun(t, "b", t0.Add(time.Second))
	if err := b.store.EndRun(b.ctx, a1, etl.RunSucceeded, etl.Counters{Read: 10, Written: 9, Rejected: 1, Batches: 1, Bytes: 500}, "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	a2 := b.beginRun(t, "a", t0.Add(2*time.Minute))
	if err := b.store.EndRun(b.ctx, a2, etl.RunFailed, etl.Counters{Read: 3}, "load batch 1: boom", t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}

	all, err := b.store.Runs(b.ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []etl.Run{
		{ID: a2, Job: "a", Trigger: "manual", Status: etl.RunFailed, StartedAt: t0.Add(2 * time.Minute), EndedAt: t0.Add(3 * time.Minute), Counters: etl.Counters{Read: 3}, Error: "load batch 1: boom"},
		{ID: b1, Job: "b", Trigger: "manual", Status: etl.RunRunning, StartedAt: t0.Add(time.Second)},
		{ID: a1, Job: "a", Trigger: "manual", Status: etl.RunSucceeded, StartedAt: t0, EndedAt: t0.Add(time.Minute), Counters: etl.Counters{Read: 10, Written: 9, Rejected: 1, Batches: 1, Bytes: 500}},
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("Runs(all) (-want +got):\n%s", diff)
	}
	onlyA, err := b.store.Runs(b.ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]etl.Run{want[0], want[2]}, onlyA); diff != "" {
		t.Errorf("Runs(a) (-want +got):\n%s", diff)
	}
	last, err := b.store.Runs(b.ctx, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[:2], last); diff != "" {
		t.Errorf("Runs limit 2 (-want +got):\n%s", diff)
	}

	if err := b.store.EndRun(b.ctx, b1, etl.RunRunning, etl.Counters{}, "", t0); err == nil {
		t.Error("EndRun with status running succeeded")
	}
	if err := b.store.EndRun(b.ctx, 999, etl.RunSucceeded, etl.Counters{}, "", t0); err == nil {
		t.Error("EndRun of an unknown run succeeded")
	}
}

func TestCommitUpdatesRunCounters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.beginRun(t, "a", t0)
	totals := etl.Counters{Read: 20, Written: 18, Rejected: 2, Batches: 2, Bytes: 2048}
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run, Job: "a", Seq: 2, Counters: totals, At: t0}); err != nil {
		t.Fatal(err)
	}
	runs, err := b.store.Runs(b.ctx, "a", 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(totals, runs[0].Counters); diff != "" {
		t.Errorf("run counters after Commit (-want +got):\n%s", diff)
	}
	if runs[0].Status != etl.RunRunning {
		t.Errorf("status after Commit = %s, want running", runs[0].Status)
	}
}

func TestBeginRunInterruptsStaleRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stale := b.beginRun(t, "a", t0)
	other := b.beginRun(t, "b", t0)
	done := b.beginRun(t, "a", t0.Add(time.Second)) // interrupts stale
	if err := b.store.EndRun(b.ctx, done, etl.RunSucceeded, etl.Counters{}, "", t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	fresh := b.beginRun(t, "a", t0.Add(time.Hour))

	runs, err := b.store.Runs(b.ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	status := map[int64]etl.RunStatus{}
	for _, r := range runs {
		status[r.ID] = r.Status
		if r.ID == stale && (!r.EndedAt.Equal(t0.Add(time.Second)) || r.Error == "") {
			t.Errorf("interrupted run = %+v, want ended when the next run began, with an explanation", r)
		}
	}
	want := map[int64]etl.RunStatus{stale: etl.RunInterrupted, other: etl.RunRunning, done: etl.RunSucceeded, fresh: etl.RunRunning}
	if diff := cmp.Diff(want, status); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, job := range []string{"a", "b"} {
		run := b.beginRun(t, job, t0)
		if err := b.store.Commit(b.ctx, etl.Commit{
			RunID: run, Job: job, Position: etl.Position(`{"line":9}`), Seq: 1, At: t0,
			Rejects: []etl.Reject{{Step: "s", Reason: "r"}},
			Files:   []etl.FileDone{{Path: "x.csv", SHA256: "xxxx"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	report, err := b.store.Reset(b.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Checkpoints) != 1 || report.Checkpoints[0].Seq != 1 || report.Files != 1 {
		t.Errorf("reset report = %+v, want the position at batch 1 and one file", report)
	}
	if cps, _ := b.store.Checkpoints(b.ctx, "a"); len(cps) != 0 {
		t.Errorf("checkpoints after reset = %+v", cps)
	}
	if files, _ := b.store.Files(b.ctx, "a"); len(files) != 0 {
		t.Errorf("files after reset = %+v", files)
	}
	if _, ok, _ := b.store.LedgerEntry(b.ctx, "a", "xxxx"); ok {
		t.Error("file still loaded after reset")
	}
	if runs, _ := b.store.Runs(b.ctx, "a", 0); len(runs) != 1 {
		t.Errorf("runs after reset = %+v, want history kept", runs)
	}
	if q, _ := b.store.Quarantined(b.ctx, "a", 0); len(q) != 1 {
		t.Errorf("quarantine after reset = %+v, want history kept", q)
	}
	if cps, _ := b.store.Checkpoints(b.ctx, "b"); len(cps) != 1 {
		t.Errorf("reset of a touched b's checkpoints: %+v", cps)
	}
	if _, ok, _ := b.store.LedgerEntry(b.ctx, "b", "xxxx"); !ok {
		t.Error("reset of a touched b's file ledger")
	}
}

func TestLeases(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ttl := time.Minute
	acquire := func(owner string, now time.Time) error {
		return b.store.AcquireLease(b.ctx, "leads", owner, ttl, now)
	}
	if err := acquire("A", t0); err != nil {
		t.Fatalf("A acquires a free lease: %v", err)
	}
	if err := acquire("B", t0.Add(30*time.Second)); !errors.Is(err, etl.ErrLeaseHeld) {
		t.Fatalf("B while A holds = %v, want ErrLeaseHeld", err)
	}
	if err := b.store.AcquireLease(b.ctx, "other", "B", ttl, t0); err != nil {
		t.Fatalf("B takes another job's lease: %v", err)
	}
	// A extends to t0+50s+1m; B is refused after A's first expiry.
	if err := acquire("A", t0.Add(50*time.Second)); err != nil {
		t.Fatalf("A extends: %v", err)
	}
	if err := acquire("B", t0.Add(70*time.Second)); !errors.Is(err, etl.ErrLeaseHeld) {
		t.Fatalf("B after A extended = %v, want ErrLeaseHeld", err)
	}
	// Once expired, B takes it over and A is locked out.
	if err := acquire("B", t0.Add(110*time.Second)); err != nil {
		t.Fatalf("B takes an expired lease: %v", err)
	}
	if err := acquire("A", t0.Add(111*time.Second)); !errors.Is(err, etl.ErrLeaseHeld) {
		t.Fatalf("A after B took over = %v, want ErrLeaseHeld", err)
	}
	// A's release is a no-op; B's frees it.
	if err := b.store.ReleaseLease(b.ctx, "leads", "A"); err != nil {
		t.Fatal(err)
	}
	if err := acquire("A", t0.Add(112*time.Second)); !errors.Is(err, etl.ErrLeaseHeld) {
		t.Fatalf("A after releasing a lease it lost = %v, want ErrLeaseHeld", err)
	}
	if err := b.store.ReleaseLease(b.ctx, "leads", "B"); err != nil {
		t.Fatal(err)
	}
	if err := acquire("A", t0.Add(113*time.Second)); err != nil {
		t.Fatalf("A after B released: %v", err)
	}
	if err := b.store.AcquireLease(b.ctx, "leads", "A", 0, t0); err == nil {
		t.Error("AcquireLease with ttl 0 succeeded")
	}
}

// TestConcurrentStores runs jobs through two Stores on one file at once, as
// a daemon and a manual run would: no call may fail with SQLITE_BUSY.
func TestConcurrentStores(t *testing.T) {
	t.Parallel()
	b := setup(t)
	second, err := Open(b.ctx, b.path)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	stores := []*Store{b.store, second}

	const workers, runsEach, batches = 8, 5, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*runsEach*10)
	var mu sync.Mutex
	wins := 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%2]
			job := fmt.Sprintf("job%d", w)
			owner := fmt.Sprintf("worker%d", w)
			for r := range runsEach {
				now := t0.Add(time.Duration(r) * time.Hour)
				// Every worker also races for one shared lease.
				switch err := s.AcquireLease(b.ctx, "shared", owner, time.Hour, t0); {
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case !errors.Is(err, etl.ErrLeaseHeld):
					errs <- fmt.Errorf("shared lease: %w", err)
				}
				if err := s.AcquireLease(b.ctx, job, owner, time.Minute, now); err != nil {
					errs <- err
					return
				}
				run, err := s.BeginRun(b.ctx, job, "schedule", now)
				if err != nil {
					errs <- err
					return
				}
				for i := range batches {
					c := etl.Commit{
						RunID: run, Job: job, Position: etl.Position(fmt.Sprintf(`{"r":%d,"b":%d}`, r, i)),
						Seq: int64(r*batches + i), Counters: etl.Counters{Read: int64(i + 1)}, At: now,
						Rejects: []etl.Reject{{Step: "s", Origin: etl.Origin{File: "f", Line: int64(i)}, Reason: "r"}},
						Files:   []etl.FileDone{{Path: "f", SHA256: fmt.Sprintf("%d-%d", r, i)}},
					}
					if err := s.Commit(b.ctx, c); err != nil {
						errs <- err
					}
					if _, err := s.Checkpoint(b.ctx, job, ""); err != nil {
						errs <- err
					}
				}
				if err := s.EndRun(b.ctx, run, etl.RunSucceeded, etl.Counters{Read: batches}, "", now); err != nil {
					errs <- err
				}
				if _, err := s.Runs(b.ctx, "", 10); err != nil {
					errs <- err
				}
				if err := s.ReleaseLease(b.ctx, job, owner); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// The owner of the shared lease wins each time it asks (it extends), the
	// others never do.
	if wins != runsEach {
		t.Errorf("shared lease won %d times, want %d (one owner, every run)", wins, runsEach)
	}
	if n := b.count(t, "runs"); n != workers*runsEach {
		t.Errorf("%d runs recorded, want %d", n, workers*runsEach)
	}
	if n := b.count(t, "quarantine"); n != workers*runsEach*batches {
		t.Errorf("%d quarantined rows, want %d", n, workers*runsEach*batches)
	}
	for w := range workers {
		cp, err := second.Checkpoint(b.ctx, fmt.Sprintf("job%d", w), "")
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"r":%d,"b":%d}`, runsEach-1, batches-1); string(cp.Position) != want {
			t.Errorf("job%d checkpoint = %s, want %s", w, cp.Position, want)
		}
	}
}

// TestConcurrentOpen opens a fresh file from several Stores at once, as
// processes started together would: each migration is applied once.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	const n = 6
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	if diff := cmp.Diff(knownVersions(t), appliedVersions(t, stores[0])); diff != "" {
		t.Errorf("applied versions (-want +got):\n%s", diff)
	}
}

// BenchmarkCommit measures one batch's commit with a reject per row of a
// 10,000-row batch, the worst case.
func BenchmarkCommit(b *testing.B) {
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	run, err := s.BeginRun(ctx, "bench", "manual", t0)
	if err != nil {
		b.Fatal(err)
	}
	rejects := make([]etl.Reject, etl.DefaultBatchSize)
	for i := range rejects {
		rejects[i] = etl.Reject{Step: "steps[0] cast", Origin: etl.Origin{File: "in.csv", Line: int64(i + 2)},
			Field: "score", Value: "x", Reason: "not an int", Row: json.RawMessage(`{"email":"a@b.c","score":"x"}`)}
	}
	seq := int64(0)
	for b.Loop() {
		seq++
		if err := s.Commit(ctx, etl.Commit{RunID: run, Job: "bench", Seq: seq, Position: etl.Position(`{"line":1}`), Rejects: rejects, At: t0}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLeaseHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, ok, err := st.LeaseHolder(ctx, "j"); ok || err != nil {
		t.Fatalf("no lease: ok %v err %v", ok, err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	if err := st.AcquireLease(ctx, "j", "host:42", time.Minute, now); err != nil {
		t.Fatal(err)
	}
	owner, expires, ok, err := st.LeaseHolder(ctx, "j")
	if err != nil || !ok || owner != "host:42" || !expires.Equal(now.Add(time.Minute)) {
		t.Fatalf("holder = %q %v %v %v", owner, expires, ok, err)
	}
}

func TestFingerprints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	digests := map[string]string{}
	var ids []string
	for i := range 1234 { // more than one chunk
		id := fmt.Sprintf("lead-%d@example.com", i)
		ids = append(ids, id)
		digests[id] = fmt.Sprintf("fp%d", i)
	}
	if err := st.SaveFingerprints(ctx, "leads/targets[1] crm hubspot", digests, now); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveFingerprints(ctx, "leads/targets[1] crm hubspot", map[string]string{ids[0]: "changed"}, now); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveFingerprints(ctx, "other/t", map[string]string{ids[0]: "x"}, now); err != nil {
		t.Fatal(err)
	}
	got, err := st.Fingerprints(ctx, "leads/targets[1] crm hubspot", append(ids, "never-sent"))
	if err != nil {
		t.Fatal(err)
	}
	digests[ids[0]] = "changed"
	if diff := cmp.Diff(digests, got); diff != "" {
		t.Fatalf("fingerprints (-want +got):\n%s", diff)
	}
	if report, err := st.Reset(ctx, "leads"); err != nil || report.Fingerprints != int64(len(ids)) {
		t.Fatalf("reset: %+v, %v; want %d fingerprints forgotten", report, err, len(ids))
	}
	got, _ = st.Fingerprints(ctx, "leads/targets[1] crm hubspot", ids[:3])
	other, _ := st.Fingerprints(ctx, "other/t", ids[:1])
	if len(got) != 0 || len(other) != 1 {
		t.Fatalf("after reset of leads: %d leads fingerprints (want 0), %d of other (want 1)", len(got), len(other))
	}
}
