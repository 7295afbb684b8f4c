package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
)

// Opener opens a fresh, empty store for t and closes it when t ends.
type Opener func(t *testing.T) etl.Store

// T0 is the suite's first instant. Stores keep times to the microsecond
// (PostgreSQL's timestamptz; SQLite keeps nanoseconds), so the suite's
// times are whole microseconds.
var T0 = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// Run runs every conformance case against the stores open makes.
func Run(t *testing.T, open Opener) {
	cases := []struct {
		name string
		fn   func(t *testing.T, open Opener)
		// alone: the case sets rapid's global -rapid.checks for its own
		// rapid.Check, which the other cases' read, so it does not run
		// beside them but before the parallel ones resume (the race
		// detector caught the write and a read once).
		alone bool
	}{
		{"CheckpointRoundTrip", testCheckpointRoundTrip, false},
		{"CommitIsAllOrNothing", testCommitIsAllOrNothing, false},
		{"Quarantine", testQuarantine, false},
		{"FileLedger", testFileLedger, false},
		{"Staging", testStaging, false},
		{"Runs", testRuns, false},
		{"Reset", testReset, false},
		{"Leases", testLeases, false},
		{"Fingerprints", testFingerprints, false},
		{"RejectsAroundTheChunk", testRejectsAroundTheChunk, false},
		{"Model", testModel, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !c.alone {
				t.Parallel()
			}
			c.fn(t, open)
		})
	}
}

type bundle struct {
	ctx   context.Context
	store etl.Store
}

func setup(t *testing.T, open Opener) bundle {
	t.Helper()
	return bundle{ctx: t.Context(), store: open(t)}
}

func (b bundle) beginRun(t *testing.T, job string, at time.Time) int64 {
	t.Helper()
	id, err := b.store.BeginRun(b.ctx, job, "manual", at)
	if err != nil {
		t.Fatalf("BeginRun(%s): %v", job, err)
	}
	return id
}

func (b bundle) commit(t *testing.T, c etl.Commit) {
	t.Helper()
	if err := b.store.Commit(b.ctx, c); err != nil {
		t.Fatalf("Commit(%s run %d seq %d): %v", c.Job, c.RunID, c.Seq, err)
	}
}

func testCheckpointRoundTrip(t *testing.T, open Opener) {
	b := setup(t, open)
	cp, err := b.store.Checkpoint(b.ctx, "leads", "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(etl.Checkpoint{}, cp); diff != "" {
		t.Errorf("checkpoint before any commit (-want +got):\n%s", diff)
	}
	run := b.beginRun(t, "leads", T0)
	pos := etl.Position(`{"file":"in/a.csv","offset":1234,"line":  7}`)
	b.commit(t, etl.Commit{RunID: run, Job: "leads", Position: pos, Seq: 3, Load: "L1", At: T0.Add(time.Second)})
	cp, err = b.store.Checkpoint(b.ctx, "leads", "")
	if err != nil {
		t.Fatal(err)
	}
	want := etl.Checkpoint{Job: "leads", Position: pos, Seq: 3, Load: "L1", RunID: run, UpdatedAt: T0.Add(time.Second)}
	if diff := cmp.Diff(want, cp); diff != "" {
		t.Errorf("checkpoint (-want +got):\n%s", diff)
	}
	if string(cp.Position) != string(pos) {
		t.Errorf("position bytes = %s, want %s exactly", cp.Position, pos)
	}
	pos2 := etl.Position(`{"cursor":"2025-03-14","key":42}`)
	b.commit(t, etl.Commit{RunID: run, Job: "leads", Position: pos2, Seq: 4, At: T0.Add(2 * time.Second)})
	b.commit(t, etl.Commit{RunID: run, Job: "leads", Stream: "b", Seq: 1, At: T0.Add(3 * time.Second)})
	// Streams list in byte order, whatever the server's collation.
	b.commit(t, etl.Commit{RunID: run, Job: "leads", Stream: "B", Seq: 1, At: T0.Add(3 * time.Second)})
	cps, err := b.store.Checkpoints(b.ctx, "leads")
	if err != nil {
		t.Fatal(err)
	}
	wantAll := []etl.Checkpoint{
		{Job: "leads", Position: pos2, Seq: 4, RunID: run, UpdatedAt: T0.Add(2 * time.Second)},
		{Job: "leads", Stream: "B", Seq: 1, RunID: run, UpdatedAt: T0.Add(3 * time.Second)},
		{Job: "leads", Stream: "b", Seq: 1, RunID: run, UpdatedAt: T0.Add(3 * time.Second)},
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
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: run, Job: "leads", Position: etl.Position(`{"file":`), Seq: 5, At: T0}); err == nil {
		t.Error("Commit of a position that is not JSON succeeded")
	}
	if err := b.store.StartLoad(b.ctx, "leads", "", "L2", run, T0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	cp, _ = b.store.Checkpoint(b.ctx, "leads", "")
	if diff := cmp.Diff(etl.Checkpoint{Job: "leads", Load: "L2", RunID: run, UpdatedAt: T0.Add(4 * time.Second)}, cp); diff != "" {
		t.Errorf("checkpoint after StartLoad (-want +got):\n%s", diff)
	}
}

// snapshot is everything a failed Commit must leave untouched.
type snapshot struct {
	Checkpoints []etl.Checkpoint
	Run         etl.Run
	Quarantine  []etl.QuarantineRecord
	Files       []etl.FileRecord
}

func (b bundle) snapshot(t *testing.T, job string) snapshot {
	t.Helper()
	cps, err := b.store.Checkpoints(b.ctx, job)
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
	return snapshot{cps, runs[0], q, files}
}

func testCommitIsAllOrNothing(t *testing.T, open Opener) {
	rejects := []etl.Reject{
		{Step: "cast", Origin: etl.Origin{File: "a.csv", Line: 2}, Reason: "bad"},
		{Step: "cast", Origin: etl.Origin{File: "a.csv", Line: 3}, Reason: "bad"},
	}
	next := func(run int64) etl.Commit {
		return etl.Commit{
			RunID: run, Job: "leads", Position: etl.Position(`{"line":5}`), Seq: 2,
			Counters: etl.Counters{Read: 8, Written: 6, Rejected: 2, Batches: 2, Bytes: 100},
			Rejects:  rejects, Files: []etl.FileDone{{Path: "a.csv", Size: 10, MTime: T0, SHA256: "aaaa", Rows: 4}},
			At: T0.Add(time.Minute),
		}
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, b bundle, run int64) (context.Context, etl.Commit)
		wantErr string
	}{
		{"file violates a constraint", func(t *testing.T, b bundle, run int64) (context.Context, etl.Commit) {
			c := next(run)
			c.Files = []etl.FileDone{{Path: "b.csv", SHA256: "bbbb"}, {Path: "c.csv", SHA256: ""}}
			return b.ctx, c
		}, "file ledger c.csv"},
		{"run already ended", func(t *testing.T, b bundle, run int64) (context.Context, etl.Commit) {
			if err := b.store.EndRun(b.ctx, run, etl.RunFailed, etl.Counters{Read: 1}, "boom", T0.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			return b.ctx, next(run)
		}, "is failed, not running"},
		{"run of another job", func(t *testing.T, b bundle, run int64) (context.Context, etl.Commit) {
			return b.ctx, next(b.beginRun(t, "other", T0))
		}, "belongs to job other"},
		{"unknown run", func(t *testing.T, b bundle, run int64) (context.Context, etl.Commit) {
			return b.ctx, next(run + 100)
		}, "not found"},
		{"cancelled context", func(t *testing.T, b bundle, run int64) (context.Context, etl.Commit) {
			ctx, cancel := context.WithCancel(b.ctx)
			cancel()
			return ctx, next(run)
		}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, open)
			run := b.beginRun(t, "leads", T0)
			b.commit(t, etl.Commit{
				RunID: run, Job: "leads", Position: etl.Position(`{"line":1}`), Seq: 1,
				Counters: etl.Counters{Read: 1, Written: 1, Batches: 1, Bytes: 10},
				Rejects:  []etl.Reject{{Step: "s", Origin: etl.Origin{File: "z.csv", Line: 1}, Reason: "r"}},
				Files:    []etl.FileDone{{Path: "z.csv", SHA256: "zzzz", MTime: T0}},
				At:       T0.Add(time.Second),
			})
			ctx, c := tt.prepare(t, b, run)
			before := b.snapshot(t, "leads")
			err := b.store.Commit(ctx, c)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Commit error = %v, want one containing %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(before, b.snapshot(t, "leads")); diff != "" {
				t.Errorf("a failed Commit changed the state (-before +after):\n%s", diff)
			}
			if _, ok, _ := b.store.LedgerEntry(b.ctx, "leads", "bbbb"); ok {
				t.Error("a file of the failed commit is in the ledger")
			}
		})
	}
}

func testQuarantine(t *testing.T, open Opener) {
	b := setup(t, open)
	run := b.beginRun(t, "leads", T0)
	rejects := []etl.Reject{
		{Step: "steps[1] cast", Origin: etl.Origin{File: "in/a.csv", Line: 12}, Field: "score", Value: "x", Reason: "not an int", Row: json.RawMessage(`{"score":"x"}`)},
		{Step: "steps[2] validate", Origin: etl.Origin{File: "in/b.xlsx", Sheet: "Leads", Row: 4}, Field: "email", Reason: "required", Row: json.RawMessage(`{"email":null}`)},
		{Step: "source", Origin: etl.Origin{Cursor: "2025-03-14T00:00:00Z"}, Reason: "no row"},
		{Step: "source", Origin: etl.Origin{File: "in/c.csv", Line: 3}, Value: "é ☃ \"q\" 'q'", Reason: "bad quoting", Row: json.RawMessage(`a,"b`)},
	}
	b.commit(t, etl.Commit{RunID: run, Job: "leads", Seq: 1, Rejects: rejects[:2], At: T0})
	b.commit(t, etl.Commit{RunID: run, Job: "leads", Seq: 2, Rejects: rejects[2:], At: T0.Add(time.Second)})
	got, err := b.store.Quarantined(b.ctx, "leads", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []etl.QuarantineRecord{
		{Job: "leads", RunID: run, At: T0.Add(time.Second), Step: "source", Origin: "in/c.csv:3", Value: "é ☃ \"q\" 'q'", Reason: "bad quoting", RowJSON: `"a,\"b"`},
		{Job: "leads", RunID: run, At: T0.Add(time.Second), Step: "source", Origin: "cursor 2025-03-14T00:00:00Z", Reason: "no row"},
		{Job: "leads", RunID: run, At: T0, Step: "steps[2] validate", Origin: "in/b.xlsx[Leads]:4", Field: "email", Reason: "required", RowJSON: `{"email":null}`},
		{Job: "leads", RunID: run, At: T0, Step: "steps[1] cast", Origin: "in/a.csv:12", Field: "score", Value: "x", Reason: "not an int", RowJSON: `{"score":"x"}`},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(etl.QuarantineRecord{}, "ID")); diff != "" {
		t.Errorf("quarantine, newest first (-want +got):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID >= got[i-1].ID {
			t.Errorf("quarantine ids not descending: %d then %d", got[i-1].ID, got[i].ID)
		}
	}
	two, err := b.store.Quarantined(b.ctx, "leads", 2)
	if err != nil || len(two) != 2 || two[0].ID != got[0].ID {
		t.Errorf("Quarantined(limit 2) = %d rows, %v", len(two), err)
	}
	// Many rejects in one commit (more than one INSERT's worth).
	many := make([]etl.Reject, 1234)
	for i := range many {
		many[i] = etl.Reject{Step: "s", Origin: etl.Origin{File: "big.csv", Line: int64(i + 1)}, Reason: "r"}
	}
	b.commit(t, etl.Commit{RunID: run, Job: "leads", Seq: 3, Rejects: many, At: T0.Add(2 * time.Second)})
	all, _ := b.store.Quarantined(b.ctx, "leads", 0)
	if len(all) != 4+len(many) || all[0].Origin != "big.csv:1234" {
		t.Errorf("after 1234 more rejects: %d rows, newest %q", len(all), all[0].Origin)
	}
}

func testFileLedger(t *testing.T, open Opener) {
	b := setup(t, open)
	run := b.beginRun(t, "leads", T0)
	a := etl.FileDone{Path: "in/a.csv", Size: 100, MTime: T0.Add(-time.Hour), SHA256: "aaaa", Rows: 3}
	bad := etl.FileDone{Path: "in/bad.csv", Size: 5, MTime: T0, SHA256: "unread-1", Failed: true}
	b.commit(t, etl.Commit{RunID: run, Job: "leads", Seq: 1, Files: []etl.FileDone{a, bad}, At: T0})
	a2 := etl.FileDone{Path: "in/a.csv", Size: 200, MTime: T0, SHA256: "a2a2", Rows: 6}
	b.commit(t, etl.Commit{RunID: run, Job: "leads", Seq: 2, Files: []etl.FileDone{a2}, At: T0.Add(time.Second)})

	rec, ok, err := b.store.LedgerEntry(b.ctx, "leads", "aaaa")
	if err != nil || !ok {
		t.Fatalf("LedgerEntry(aaaa) = %v, %v", ok, err)
	}
	want := etl.FileRecord{Job: "leads", Path: "in/a.csv", Size: 100, MTime: T0.Add(-time.Hour), SHA256: "aaaa", Status: "loaded", Rows: 3, RunID: run, LoadedAt: T0}
	if diff := cmp.Diff(want, rec); diff != "" {
		t.Errorf("ledger entry (-want +got):\n%s", diff)
	}
	if rec, ok, _ := b.store.LedgerEntry(b.ctx, "leads", "unread-1"); !ok || rec.Status != "failed" {
		t.Errorf("failed file: %v %+v", ok, rec)
	}
	if _, ok, _ := b.store.LedgerEntry(b.ctx, "other", "aaaa"); ok {
		t.Error("another job sees the file")
	}
	sl, ok := b.store.(etl.SizeLedger)
	if !ok {
		t.Fatal("the store is not an etl.SizeLedger")
	}
	for _, c := range []struct {
		job  string
		size int64
		want bool
	}{{"leads", 100, true}, {"leads", 200, true}, {"leads", 5, true}, {"leads", 101, false}, {"other", 100, false}} {
		if held, err := sl.HoldsSize(b.ctx, c.job, c.size); err != nil || held != c.want {
			t.Errorf("HoldsSize(%s, %d) = %t, %v; want %t", c.job, c.size, held, err, c.want)
		}
	}
	pl, ok := b.store.(etl.PathLedger)
	if !ok {
		t.Fatal("the store is not an etl.PathLedger")
	}
	last, ok, err := pl.LastLoaded(b.ctx, "leads", "in/a.csv")
	if err != nil || !ok || last.SHA256 != "a2a2" {
		t.Errorf("LastLoaded = %+v, %v, %v; want the a2a2 entry", last, ok, err)
	}
	if _, ok, _ := pl.LastLoaded(b.ctx, "leads", "in/bad.csv"); ok {
		t.Error("LastLoaded found a failed file")
	}
	files, err := b.store.Files(b.ctx, "leads")
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, f := range files {
		order = append(order, f.SHA256)
	}
	if diff := cmp.Diff([]string{"a2a2", "unread-1", "aaaa"}, order); diff != "" {
		t.Errorf("Files order, newest first (-want +got):\n%s", diff)
	}
	// The same bytes loaded again (a failed file retried) replace the entry.
	run2 := b.beginRun(t, "leads", T0.Add(time.Minute))
	fixed := bad
	fixed.Failed, fixed.Rows = false, 2
	b.commit(t, etl.Commit{RunID: run2, Job: "leads", Seq: 1, Files: []etl.FileDone{fixed}, At: T0.Add(time.Minute)})
	rec, _, _ = b.store.LedgerEntry(b.ctx, "leads", "unread-1")
	if rec.Status != "loaded" || rec.RunID != run2 || rec.Rows != 2 {
		t.Errorf("retried file's entry = %+v", rec)
	}
	if files, _ := b.store.Files(b.ctx, "leads"); len(files) != 3 {
		t.Errorf("ledger has %d entries, want 3", len(files))
	}
}

func testStaging(t *testing.T, open Opener) {
	b := setup(t, open)
	run := b.beginRun(t, "leads", T0)
	f1 := etl.FileDone{Path: "a.csv", Size: 1, MTime: T0, SHA256: "s1", Rows: 1}
	f1again := etl.FileDone{Path: "renamed.csv", Size: 1, MTime: T0, SHA256: "s1", Rows: 1}
	rej := etl.Reject{Step: "s", Origin: etl.Origin{File: "a.csv", Line: 2}, Reason: "r"}
	for _, c := range []etl.Commit{
		{RunID: run, Job: "leads", Rejects: []etl.Reject{rej}, Files: []etl.FileDone{f1}, At: T0},
		{RunID: run, Job: "leads", Files: []etl.FileDone{f1again}, At: T0},
	} {
		if err := b.store.Stage(b.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if q, _ := b.store.Quarantined(b.ctx, "leads", 0); len(q) != 0 {
		t.Errorf("staged rejects visible before the commit: %+v", q)
	}
	if _, ok, _ := b.store.LedgerEntry(b.ctx, "leads", "s1"); ok {
		t.Error("staged file visible before the commit")
	}
	b.commit(t, etl.Commit{RunID: run, Job: "leads", Seq: 1, Staged: true, At: T0.Add(time.Second)})
	if q, _ := b.store.Quarantined(b.ctx, "leads", 0); len(q) != 1 || q[0].At != T0 {
		t.Errorf("quarantine after the staged commit = %+v", q)
	}
	rec, ok, _ := b.store.LedgerEntry(b.ctx, "leads", "s1")
	if !ok || rec.Path != "renamed.csv" || !rec.LoadedAt.Equal(T0.Add(time.Second)) {
		t.Errorf("a file staged twice: entry %+v, want the last, loaded at the commit", rec)
	}
	// What a run staged is dropped when it ends without the commit, and
	// when the next run of the job begins after a crash.
	run2 := b.beginRun(t, "leads", T0.Add(time.Minute))
	if err := b.store.Stage(b.ctx, etl.Commit{RunID: run2, Job: "leads", Rejects: []etl.Reject{rej}, At: T0}); err != nil {
		t.Fatal(err)
	}
	if err := b.store.EndRun(b.ctx, run2, etl.RunFailed, etl.Counters{}, "x", T0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	run3 := b.beginRun(t, "leads", T0.Add(2*time.Minute))
	if err := b.store.Stage(b.ctx, etl.Commit{RunID: run3, Job: "leads", Rejects: []etl.Reject{rej}, At: T0}); err != nil {
		t.Fatal(err)
	}
	run4 := b.beginRun(t, "leads", T0.Add(3*time.Minute))
	b.commit(t, etl.Commit{RunID: run4, Job: "leads", Seq: 1, Staged: true, At: T0.Add(4 * time.Minute)})
	if q, _ := b.store.Quarantined(b.ctx, "leads", 0); len(q) != 1 {
		t.Errorf("rejects staged by runs that ended without their commit reached the quarantine: %d rows", len(q))
	}
	if err := b.store.Stage(b.ctx, etl.Commit{RunID: run2, Job: "leads", Rejects: []etl.Reject{rej}, At: T0}); err == nil ||
		!strings.Contains(err.Error(), "not running") {
		t.Errorf("Stage to an ended run: %v", err)
	}
}

func testRuns(t *testing.T, open Opener) {
	b := setup(t, open)
	r1 := b.beginRun(t, "leads", T0)
	r2 := b.beginRun(t, "deals", T0.Add(time.Second))
	if err := b.store.EndRun(b.ctx, r2, etl.RunSucceeded, etl.Counters{Read: 5, Written: 4, Skipped: 1, Batches: 1, Bytes: 9}, "", T0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.store.EndRun(b.ctx, r2, "running", etl.Counters{}, "", T0); err == nil {
		t.Error("EndRun with a status that is not final succeeded")
	}
	if err := b.store.EndRun(b.ctx, r2+100, etl.RunFailed, etl.Counters{}, "", T0); err == nil {
		t.Error("EndRun of an unknown run succeeded")
	}
	// A new run of leads finds r1 running: its process died.
	r3 := b.beginRun(t, "leads", T0.Add(3*time.Second))
	if r1 >= r2 || r2 >= r3 {
		t.Errorf("run ids %d, %d, %d do not grow", r1, r2, r3)
	}
	runs, err := b.store.Runs(b.ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []etl.Run{
		{ID: r3, Job: "leads", Trigger: "manual", Status: etl.RunRunning, StartedAt: T0.Add(3 * time.Second)},
		{ID: r2, Job: "deals", Trigger: "manual", Status: etl.RunSucceeded, StartedAt: T0.Add(time.Second), EndedAt: T0.Add(2 * time.Second),
			Counters: etl.Counters{Read: 5, Written: 4, Skipped: 1, Batches: 1, Bytes: 9}},
		{ID: r1, Job: "leads", Trigger: "manual", Status: etl.RunInterrupted, StartedAt: T0, EndedAt: T0.Add(3 * time.Second),
			Error: "the process running it ended before the run did"},
	}
	if diff := cmp.Diff(want, runs); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
	if leads, _ := b.store.Runs(b.ctx, "leads", 1); len(leads) != 1 || leads[0].ID != r3 {
		t.Errorf("Runs(leads, 1) = %+v", leads)
	}
	if err := b.store.Commit(b.ctx, etl.Commit{RunID: r1, Job: "leads", Seq: 1, At: T0}); err == nil ||
		!strings.Contains(err.Error(), "interrupted, not running") {
		t.Errorf("Commit of an interrupted run: %v", err)
	}
}

func testReset(t *testing.T, open Opener) {
	b := setup(t, open)
	run := b.beginRun(t, "leads", T0)
	other := b.beginRun(t, "leads2", T0)
	b.commit(t, etl.Commit{RunID: run, Job: "leads", Position: etl.Position(`{"n":1}`), Seq: 1, Load: "L",
		Files:   []etl.FileDone{{Path: "a", SHA256: "a", MTime: T0}, {Path: "b", SHA256: "b", MTime: T0}},
		Rejects: []etl.Reject{{Step: "s", Reason: "r"}}, At: T0})
	b.commit(t, etl.Commit{RunID: other, Job: "leads2", Position: etl.Position(`{"n":2}`), Seq: 1,
		Files: []etl.FileDone{{Path: "a", SHA256: "a", MTime: T0}}, At: T0})
	for _, target := range []string{"leads/hubspot", "leads/x", "leads2/hubspot", "leadsX", "lead/x"} {
		if err := b.store.SaveFingerprints(b.ctx, target, map[string]string{"1": "f", "2": "g"}, T0); err != nil {
			t.Fatal(err)
		}
	}
	report, err := b.store.Reset(b.ctx, "leads")
	if err != nil {
		t.Fatal(err)
	}
	want := etl.ResetReport{
		Checkpoints: []etl.Checkpoint{{Job: "leads", Position: etl.Position(`{"n":1}`), Seq: 1, Load: "L", RunID: run, UpdatedAt: T0}},
		Files:       2, Fingerprints: 4,
	}
	if diff := cmp.Diff(want, report); diff != "" {
		t.Errorf("reset report (-want +got):\n%s", diff)
	}
	if cps, _ := b.store.Checkpoints(b.ctx, "leads"); len(cps) != 0 {
		t.Errorf("checkpoints after reset: %+v", cps)
	}
	if cps, _ := b.store.Checkpoints(b.ctx, "leads2"); len(cps) != 1 {
		t.Errorf("another job's checkpoints after reset: %+v", cps)
	}
	if fps, _ := b.store.Fingerprints(b.ctx, "leads2/hubspot", []string{"1"}); len(fps) != 1 {
		t.Error("reset of leads forgot leads2's fingerprints")
	}
	if q, _ := b.store.Quarantined(b.ctx, "leads", 0); len(q) != 1 {
		t.Error("reset forgot the quarantine, which is history")
	}
}

func testLeases(t *testing.T, open Opener) {
	b := setup(t, open)
	ctx := b.ctx
	if _, _, ok, err := b.store.LeaseHolder(ctx, "leads"); ok || err != nil {
		t.Fatalf("LeaseHolder of a free job = %v, %v", ok, err)
	}
	if err := b.store.AcquireLease(ctx, "leads", "a", time.Minute, T0); err != nil {
		t.Fatal(err)
	}
	if err := b.store.AcquireLease(ctx, "leads", "b", time.Minute, T0.Add(30*time.Second)); !errors.Is(err, etl.ErrLeaseHeld) {
		t.Errorf("second owner: %v, want ErrLeaseHeld", err)
	}
	if err := b.store.AcquireLease(ctx, "leads", "a", time.Minute, T0.Add(30*time.Second)); err != nil {
		t.Errorf("owner extends: %v", err)
	}
	owner, until, ok, err := b.store.LeaseHolder(ctx, "leads")
	if err != nil || !ok || owner != "a" || !until.Equal(T0.Add(90*time.Second)) {
		t.Errorf("LeaseHolder = %q %v %v %v", owner, until, ok, err)
	}
	if err := b.store.AcquireLease(ctx, "leads", "b", time.Minute, T0.Add(90*time.Second)); err != nil {
		t.Errorf("take over at expiry: %v", err)
	}
	if err := b.store.ReleaseLease(ctx, "leads", "a"); err != nil {
		t.Fatal(err)
	}
	if owner, _, _, _ := b.store.LeaseHolder(ctx, "leads"); owner != "b" {
		t.Errorf("a released b's lease: holder %q", owner)
	}
	if err := b.store.ReleaseLease(ctx, "leads", "b"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := b.store.LeaseHolder(ctx, "leads"); ok {
		t.Error("lease held after release")
	}
	if err := b.store.AcquireLease(ctx, "leads", "a", 0, T0); err == nil {
		t.Error("a lease of no duration was taken")
	}
}

func testFingerprints(t *testing.T, open Opener) {
	b := setup(t, open)
	digests := make(map[string]string, 1200)
	ids := make([]string, 0, 1201)
	for i := range 1200 {
		id := "id-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strconv.Itoa(i)
		digests[id] = "fp" + strconv.Itoa(i)
		ids = append(ids, id)
	}
	if err := b.store.SaveFingerprints(b.ctx, "leads/hubspot", digests, T0); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, "never-sent")
	got, err := b.store.Fingerprints(b.ctx, "leads/hubspot", ids)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(digests, got); diff != "" {
		t.Errorf("fingerprints (-want +got):\n%s", diff)
	}
	if err := b.store.SaveFingerprints(b.ctx, "leads/hubspot", map[string]string{ids[0]: "new"}, T0); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.store.Fingerprints(b.ctx, "leads/hubspot", ids[:1]); got[ids[0]] != "new" {
		t.Errorf("updated fingerprint = %q", got[ids[0]])
	}
	if got, _ := b.store.Fingerprints(b.ctx, "other/hubspot", ids[:1]); len(got) != 0 {
		t.Errorf("another target sees %v", got)
	}
	if got, err := b.store.Fingerprints(b.ctx, "leads/hubspot", nil); err != nil || len(got) != 0 {
		t.Errorf("Fingerprints(no ids) = %v, %v", got, err)
	}
	// A target finding the records it no longer sees lists them all.
	lister, ok := b.store.(etl.FingerprintLister)
	if !ok {
		t.Fatalf("%T does not list fingerprints (etl.FingerprintLister)", b.store)
	}
	digests[ids[0]] = "new"
	if got, err := lister.AllFingerprints(b.ctx, "leads/hubspot"); err != nil || !maps.Equal(got, digests) {
		t.Errorf("AllFingerprints: %d records, %v; want the %d saved", len(got), err, len(digests))
	}
	if got, err := lister.AllFingerprints(b.ctx, "other/hubspot"); err != nil || len(got) != 0 {
		t.Errorf("AllFingerprints of another target = %v, %v", got, err)
	}
}

// rejectChunk is how many rows the SQL stores insert with one statement
// (etl/internal/sqlstore.Chunk): the counts around it are where a
// statement repeated per chunk goes wrong.
const rejectChunk = 500

// testRejectsAroundTheChunk searches over counts of rejects around the
// chunk size and over their text, committed at once or staged first: the
// quarantine then holds exactly them, newest first.
//
// The text holds NULs and bytes that are not UTF-8 too, which PostgreSQL's
// text cannot hold (a reject carrying one failed the whole commit there:
// "invalid byte sequence for encoding UTF8: 0x00"): both stores keep each
// as the characters \xNN.
func testRejectsAroundTheChunk(t *testing.T, open Opener) {
	b := setup(t, open)
	rapid.Check(t, func(rt *rapid.T) {
		// A job of its own each time: rapid runs its cases in turn.
		job := "chunk" + strconv.FormatInt(jobSeq.Add(1), 10)
		run, err := b.store.BeginRun(b.ctx, job, "manual", T0)
		if err != nil {
			rt.Fatal(err)
		}
		n := rapid.OneOf(rapid.IntRange(0, 3), rapid.IntRange(rejectChunk-2, rejectChunk+2), rapid.IntRange(0, 2*rejectChunk+7)).Draw(rt, "n")
		staged := rapid.Bool().Draw(rt, "staged")
		rejects := make([]etl.Reject, n)
		want := make([]etl.QuarantineRecord, n)
		for i := range rejects {
			value, wantValue := drawText(rt, "value")
			reason, wantReason := drawText(rt, "reason")
			// The row, as JSON: a byte that is not UTF-8 can sit in its
			// strings and must leave the JSON valid.
			b := rapid.ByteRange(0x80, 0xbf).Draw(rt, "row byte")
			row := `{"f":"a` + string([]byte{b}) + `z"}`
			rejects[i] = etl.Reject{Step: "steps[1] cast", Origin: etl.Origin{File: "in.csv", Line: int64(i + 2)},
				Field: "f", Value: value, Reason: reason, Row: json.RawMessage(row)}
			want[n-1-i] = etl.QuarantineRecord{Job: job, RunID: run, At: T0, Step: rejects[i].Step,
				Origin: rejects[i].Origin.String(), Field: "f", Value: wantValue, Reason: wantReason,
				RowJSON: fmt.Sprintf(`{"f":"a\\x%02xz"}`, b)}
		}
		c := etl.Commit{RunID: run, Job: job, Seq: 1, Rejects: rejects, At: T0}
		if staged {
			if err := b.store.Stage(b.ctx, c); err != nil {
				rt.Fatal(err)
			}
			c.Rejects, c.Staged = nil, true
		}
		if err := b.store.Commit(b.ctx, c); err != nil {
			rt.Fatal(err)
		}
		got, err := b.store.Quarantined(b.ctx, job, 0)
		if err != nil {
			rt.Fatal(err)
		}
		for i := range got {
			got[i].ID = 0
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			lines := strings.Split(diff, "\n")
			rt.Fatalf("quarantine (-want +got):\n%s", strings.Join(lines[:min(20, len(lines))], "\n"))
		}
	})
}

// drawText draws a text of pieces, most of them any characters, some a NUL
// or a byte that cannot start UTF-8, and returns it with the text a store
// keeps: each NUL and each such byte as the characters \xNN.
func drawText(rt *rapid.T, label string) (text, kept string) {
	var t, k strings.Builder
	for _, piece := range rapid.SliceOfN(rapid.IntRange(0, 9), 0, 6).Draw(rt, label) {
		switch piece {
		case 0:
			t.WriteByte(0)
			k.WriteString(`\x00`)
		case 1:
			b := rapid.ByteRange(0x80, 0xbf).Draw(rt, label+" byte") // a continuation byte: never starts a rune
			t.WriteByte(b)
			fmt.Fprintf(&k, `\x%02x`, b)
		default:
			s := rapid.StringN(0, 8, -1).Draw(rt, label+" chars")
			t.WriteString(s)
			k.WriteString(strings.ReplaceAll(s, "\x00", `\x00`))
		}
	}
	return t.String(), k.String()
}
