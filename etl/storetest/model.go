package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jmoiron/sqlx"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
)

// model is a plain in-memory reference of etl.Store: what each operation
// must leave behind, written for clarity, not speed.
type model struct {
	runs        map[int64]*etl.Run
	positions   map[[2]string]etl.Checkpoint
	files       map[[2]string]*modelFile // job, sha256
	fileSeq     int64
	quarantine  []etl.QuarantineRecord // in insertion order
	staged      map[int64]*modelStage
	leases      map[string]modelLease
	fingerprint map[[2]string]string // target, id
}

type modelFile struct {
	rec etl.FileRecord
	id  int64
}

type modelStage struct {
	job     string
	rejects []etl.QuarantineRecord
	files   []etl.FileDone
}

type modelLease struct {
	owner   string
	expires time.Time
}

func newModel() *model {
	return &model{
		runs: map[int64]*etl.Run{}, positions: map[[2]string]etl.Checkpoint{}, files: map[[2]string]*modelFile{},
		staged: map[int64]*modelStage{}, leases: map[string]modelLease{}, fingerprint: map[[2]string]string{},
	}
}

func (m *model) running(id int64, job string) bool {
	r, ok := m.runs[id]
	return ok && r.Job == job && r.Status == etl.RunRunning
}

func (m *model) beginRun(id int64, job, trigger string, at time.Time) {
	for _, r := range m.runs {
		if r.Job == job && r.Status == etl.RunRunning {
			r.Status, r.EndedAt = etl.RunInterrupted, at
			if r.Error == "" {
				r.Error = "the process running it ended before the run did"
			}
		}
	}
	for run, st := range m.staged {
		if st.job == job {
			delete(m.staged, run)
		}
	}
	m.runs[id] = &etl.Run{ID: id, Job: job, Trigger: trigger, Status: etl.RunRunning, StartedAt: at}
}

func quarantined(c etl.Commit, r etl.Reject, at time.Time) etl.QuarantineRecord {
	row := string(r.Row)
	if len(r.Row) > 0 && !json.Valid(r.Row) {
		q, _ := json.Marshal(row)
		row = string(q)
	}
	return etl.QuarantineRecord{Job: c.Job, RunID: c.RunID, At: at, Step: r.Step, Origin: r.Origin.String(),
		Field: r.Field, Value: r.Value, Reason: r.Reason, RowJSON: row}
}

func (m *model) upsertFile(job string, run int64, f etl.FileDone, at time.Time) {
	key := [2]string{job, f.SHA256}
	mf, ok := m.files[key]
	if !ok {
		m.fileSeq++
		mf = &modelFile{id: m.fileSeq}
		m.files[key] = mf
	}
	mf.rec = etl.FileRecord{Job: job, Path: f.Path, Size: f.Size, MTime: f.MTime, SHA256: f.SHA256, Status: f.Status(),
		Rows: f.Rows, RunID: run, LoadedAt: at}
}

// commit applies c, or reports that the store must refuse it.
func (m *model) commit(c etl.Commit) bool {
	if !m.running(c.RunID, c.Job) {
		return false
	}
	for _, f := range c.Files {
		if f.SHA256 == "" {
			return false
		}
	}
	m.runs[c.RunID].Counters = c.Counters
	m.positions[[2]string{c.Job, c.Stream}] = etl.Checkpoint{Job: c.Job, Stream: c.Stream, Position: c.Position,
		Seq: c.Seq, Load: c.Load, RunID: c.RunID, UpdatedAt: c.At}
	if st := m.staged[c.RunID]; c.Staged && st != nil {
		m.quarantine = append(m.quarantine, st.rejects...)
		for _, f := range st.files {
			m.upsertFile(c.Job, c.RunID, f, c.At)
		}
		delete(m.staged, c.RunID)
	}
	for _, r := range c.Rejects {
		m.quarantine = append(m.quarantine, quarantined(c, r, c.At))
	}
	for _, f := range c.Files {
		m.upsertFile(c.Job, c.RunID, f, c.At)
	}
	return true
}

func (m *model) stage(c etl.Commit) bool {
	if len(c.Rejects) == 0 && len(c.Files) == 0 {
		return true
	}
	if !m.running(c.RunID, c.Job) {
		return false
	}
	st := m.staged[c.RunID]
	if st == nil {
		st = &modelStage{job: c.Job}
		m.staged[c.RunID] = st
	}
	for _, r := range c.Rejects {
		st.rejects = append(st.rejects, quarantined(c, r, c.At))
	}
	st.files = append(st.files, c.Files...)
	return true
}

// Model-based test: random sequences of operations against the store and
// the model, the store's observable state compared after each one.

var jobSeq atomic.Int64

// genTime is a whole microsecond near T0: ties and disorder included.
func genTime(t *rapid.T, label string) time.Time {
	return T0.Add(time.Duration(rapid.IntRange(0, 40).Draw(t, label)) * 250 * time.Millisecond)
}

var (
	genText = rapid.SampledFrom([]string{"", "a", "b", "é☃", `q"'`, "x y", "tab\tnl\n"})
	genSHA  = rapid.SampledFrom([]string{"s1", "s2", "s3", "s4"})
)

func genReject(t *rapid.T) etl.Reject {
	return etl.Reject{
		Step:   genText.Draw(t, "step"),
		Origin: etl.Origin{File: rapid.SampledFrom([]string{"", "a.csv", "b.xlsx"}).Draw(t, "file"), Line: rapid.Int64Range(0, 3).Draw(t, "line")},
		Field:  genText.Draw(t, "field"), Value: genText.Draw(t, "value"), Reason: genText.Draw(t, "reason"),
		Row: json.RawMessage(rapid.SampledFrom([]string{"", `{"a":1}`, `[1, 2]`, `not json`, `"s"`}).Draw(t, "row")),
	}
}

func genFile(t *rapid.T) etl.FileDone {
	return etl.FileDone{
		Path: rapid.SampledFrom([]string{"in/a.csv", "in/b.csv", "c.csv"}).Draw(t, "path"),
		Size: rapid.Int64Range(0, 1000).Draw(t, "size"), MTime: genTime(t, "mtime"),
		SHA256: genSHA.Draw(t, "sha"), Rows: rapid.Int64Range(0, 50).Draw(t, "rows"),
		Failed: rapid.Bool().Draw(t, "failed"),
	}
}

// modelChecks is how many random sequences a default run of the Model
// case tries: 15, about 10 s with -race on 2 shared cores for either store.
// NIGHTJAR_STORE_CHECKS raises it for a longer sweep; -rapid.checks, when
// given, wins.
const modelChecks = 15

func testModel(t *testing.T, open Opener) {
	checks := modelChecks
	if v := os.Getenv("NIGHTJAR_STORE_CHECKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("NIGHTJAR_STORE_CHECKS=%q: want a positive number", v)
		}
		checks = n
	}
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rapid.checks" })
	if f := flag.Lookup("rapid.checks"); f != nil && !given {
		old := f.Value.String()
		if err := f.Value.Set(strconv.Itoa(checks)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Value.Set(old) })
	}
	b := setup(t, open)
	rapid.Check(t, func(rt *rapid.T) {
		// Each sequence has jobs of its own in the one store.
		prefix := "m" + strconv.FormatInt(jobSeq.Add(1), 10) + "-"
		jobs := []string{prefix + "a", prefix + "b"}
		targets := []string{jobs[0] + "/t", jobs[1] + "/t", prefix + "a0"}
		m := newModel()
		var runIDs []int64
		genJob := rapid.SampledFrom(jobs)
		genRun := func(rt *rapid.T) int64 {
			if len(runIDs) == 0 || rapid.IntRange(0, 9).Draw(rt, "unknown run") == 0 {
				return 1 << 40
			}
			return rapid.SampledFrom(runIDs).Draw(rt, "run")
		}
		commitOf := func(rt *rapid.T) etl.Commit {
			var pos etl.Position
			if rapid.Bool().Draw(rt, "has position") {
				pos = etl.Position(`{"n":` + strconv.Itoa(rapid.IntRange(0, 9).Draw(rt, "pos")) + `}`)
			}
			return etl.Commit{
				RunID: genRun(rt), Job: genJob.Draw(rt, "job"), Stream: rapid.SampledFrom([]string{"", "s", "S"}).Draw(rt, "stream"),
				Position: pos, Seq: rapid.Int64Range(0, 9).Draw(rt, "seq"), Load: rapid.SampledFrom([]string{"", "L1"}).Draw(rt, "load"),
				Counters: etl.Counters{Read: rapid.Int64Range(0, 9).Draw(rt, "read"), Written: rapid.Int64Range(0, 9).Draw(rt, "written")},
				Rejects:  rapid.SliceOfN(rapid.Custom(genReject), 0, 3).Draw(rt, "rejects"),
				Files:    rapid.SliceOfN(rapid.Custom(genFile), 0, 3).Draw(rt, "files"),
				At:       genTime(rt, "at"),
			}
		}
		ctx := b.ctx
		s := b.store
		rt.Repeat(map[string]func(*rapid.T){
			"BeginRun": func(rt *rapid.T) {
				job, at := genJob.Draw(rt, "job"), genTime(rt, "at")
				id, err := s.BeginRun(ctx, job, "schedule", at)
				if err != nil {
					rt.Fatalf("BeginRun: %v", err)
				}
				for _, old := range runIDs {
					if id <= old {
						rt.Fatalf("BeginRun gave id %d after %d", id, old)
					}
				}
				runIDs = append(runIDs, id)
				m.beginRun(id, job, "schedule", at)
			},
			"Commit": func(rt *rapid.T) {
				c := commitOf(rt)
				c.Staged = rapid.Bool().Draw(rt, "staged")
				if rapid.IntRange(0, 9).Draw(rt, "bad sha") == 0 && len(c.Files) > 0 {
					c.Files[len(c.Files)-1].SHA256 = ""
				}
				err := s.Commit(ctx, c)
				if ok := m.commit(c); ok != (err == nil) {
					rt.Fatalf("Commit(run %d of %s): store error %v, model accepts: %v", c.RunID, c.Job, err, ok)
				}
			},
			"Stage": func(rt *rapid.T) {
				c := commitOf(rt)
				err := s.Stage(ctx, c)
				if ok := m.stage(c); ok != (err == nil) {
					rt.Fatalf("Stage(run %d of %s): store error %v, model accepts: %v", c.RunID, c.Job, err, ok)
				}
			},
			"EndRun": func(rt *rapid.T) {
				id := genRun(rt)
				status := rapid.SampledFrom([]etl.RunStatus{etl.RunSucceeded, etl.RunFailed, etl.RunCancelled}).Draw(rt, "status")
				counters := etl.Counters{Read: rapid.Int64Range(0, 9).Draw(rt, "read"), Rejected: rapid.Int64Range(0, 9).Draw(rt, "rejected")}
				errText, at := genText.Draw(rt, "error"), genTime(rt, "at")
				err := s.EndRun(ctx, id, status, counters, errText, at)
				r, ok := m.runs[id]
				if ok != (err == nil) {
					rt.Fatalf("EndRun(%d): store error %v, model knows the run: %v", id, err, ok)
				}
				if ok {
					r.Status, r.Counters, r.Error, r.EndedAt = status, counters, errText, at
					delete(m.staged, id)
				}
			},
			"StartLoad": func(rt *rapid.T) {
				job, id, at := genJob.Draw(rt, "job"), genRun(rt), genTime(rt, "at")
				stream := rapid.SampledFrom([]string{"", "s"}).Draw(rt, "stream")
				err := s.StartLoad(ctx, job, stream, "L2", id, at)
				ok := m.running(id, job)
				if ok != (err == nil) {
					rt.Fatalf("StartLoad(%s run %d): store error %v, model accepts: %v", job, id, err, ok)
				}
				if ok {
					m.positions[[2]string{job, stream}] = etl.Checkpoint{Job: job, Stream: stream, Load: "L2", RunID: id, UpdatedAt: at}
				}
			},
			"Reset": func(rt *rapid.T) {
				job := genJob.Draw(rt, "job")
				got, err := s.Reset(ctx, job)
				if err != nil {
					rt.Fatalf("Reset: %v", err)
				}
				var want etl.ResetReport
				for key, cp := range m.positions {
					if key[0] == job {
						want.Checkpoints = append(want.Checkpoints, cp)
						delete(m.positions, key)
					}
				}
				slices.SortFunc(want.Checkpoints, func(a, b etl.Checkpoint) int { return cmp.Compare(a.Stream, b.Stream) })
				for key := range m.files {
					if key[0] == job {
						want.Files++
						delete(m.files, key)
					}
				}
				for key := range m.fingerprint {
					if len(key[0]) > len(job) && key[0][:len(job)+1] == job+"/" {
						want.Fingerprints++
						delete(m.fingerprint, key)
					}
				}
				if diff := gocmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
					rt.Fatalf("Reset(%s) report (-model +store):\n%s", job, diff)
				}
			},
			"AcquireLease": func(rt *rapid.T) {
				job, owner := genJob.Draw(rt, "job"), rapid.SampledFrom([]string{"w1", "w2"}).Draw(rt, "owner")
				ttl := time.Duration(rapid.IntRange(1, 8).Draw(rt, "ttl")) * 250 * time.Millisecond
				now := genTime(rt, "now")
				err := s.AcquireLease(ctx, job, owner, ttl, now)
				l, held := m.leases[job]
				free := !held || l.owner == owner || !l.expires.After(now)
				if free {
					m.leases[job] = modelLease{owner, now.Add(ttl)}
				}
				if free != (err == nil) || (!free && !errors.Is(err, etl.ErrLeaseHeld)) {
					rt.Fatalf("AcquireLease(%s, %s, now %s): store error %v, model free: %v (held by %+v)", job, owner, now, err, free, l)
				}
			},
			"ReleaseLease": func(rt *rapid.T) {
				job, owner := genJob.Draw(rt, "job"), rapid.SampledFrom([]string{"w1", "w2"}).Draw(rt, "owner")
				if err := s.ReleaseLease(ctx, job, owner); err != nil {
					rt.Fatal(err)
				}
				if m.leases[job].owner == owner {
					delete(m.leases, job)
				}
			},
			"SaveFingerprints": func(rt *rapid.T) {
				target := rapid.SampledFrom(targets).Draw(rt, "target")
				digests := rapid.MapOfN(rapid.SampledFrom([]string{"1", "2", "3"}), genText, 0, 3).Draw(rt, "digests")
				if err := s.SaveFingerprints(ctx, target, digests, genTime(rt, "at")); err != nil {
					rt.Fatal(err)
				}
				for id, fp := range digests {
					m.fingerprint[[2]string{target, id}] = fp
				}
			},
			"": func(rt *rapid.T) { m.check(rt, b, jobs, targets) },
		})
	})
}

// RunPages is what the SQL stores show besides etl.Store: a run by id and
// the pages of its rejects, for the operator's views (internal/daemon).
type RunPages interface {
	Run(ctx context.Context, id int64) (run etl.Run, ok bool, err error)
	RunQuarantine(ctx context.Context, runID int64, offset, limit int) ([]etl.QuarantineRecord, int, error)
}

// DBStore is a store over SQL with the state store's tables (both stores
// are): the suite counts there what etl.Store does not show, the rows a
// run staged, which a run that ends without its final Commit, or that
// the next BeginRun finds interrupted, must not leave behind.
type DBStore interface {
	DB() *sqlx.DB
}

// firstN is the first n of list, or all of it when n is 0.
func firstN[T any](list []T, n int) []T {
	if n == 0 || n > len(list) {
		return list
	}
	return list[:n]
}

// check compares everything the store shows of jobs and targets with the
// model: the listings whole and limited, runs by id and their pages of
// rejects, the ledger by content and by path, leases and fingerprints.
func (m *model) check(rt *rapid.T, b bundle, jobs, targets []string) {
	ctx, s := b.ctx, b.store
	pages, ok := s.(RunPages)
	if !ok {
		rt.Fatalf("%T does not show runs by id (storetest.RunPages)", s)
	}
	byPath, ok := s.(etl.PathLedger)
	if !ok {
		rt.Fatalf("%T does not find files by path (etl.PathLedger)", s)
	}
	db, ok := s.(DBStore)
	if !ok {
		rt.Fatalf("%T has no database to count staged rows in (storetest.DBStore)", s)
	}
	if _, ok, err := pages.Run(ctx, 1<<40); ok || err != nil {
		rt.Fatalf("Run(unknown id) = %v, %v", ok, err)
	}
	limit := rapid.IntRange(0, 3).Draw(rt, "limit")
	for _, job := range jobs {
		fail := func(what string, err error) {
			rt.Helper()
			if err != nil {
				rt.Fatalf("%s of %s: %v", what, job, err)
			}
		}
		var wantRuns []etl.Run
		for _, r := range m.runs {
			if r.Job == job {
				wantRuns = append(wantRuns, *r)
			}
		}
		slices.SortFunc(wantRuns, func(a, b etl.Run) int { return cmp.Compare(b.ID, a.ID) })
		runs, err := s.Runs(ctx, job, 0)
		fail("Runs", err)
		if diff := gocmp.Diff(wantRuns, runs, cmpopts.EquateEmpty()); diff != "" {
			rt.Fatalf("Runs(%s) (-model +store):\n%s", job, diff)
		}
		runs, err = s.Runs(ctx, job, limit)
		fail("Runs", err)
		if diff := gocmp.Diff(firstN(wantRuns, limit), runs, cmpopts.EquateEmpty()); diff != "" {
			rt.Fatalf("Runs(%s, limit %d) (-model +store):\n%s", job, limit, diff)
		}
		for _, want := range wantRuns {
			got, ok, err := pages.Run(ctx, want.ID)
			fail("Run", err)
			if diff := gocmp.Diff(want, got); !ok || diff != "" {
				rt.Fatalf("Run(%d) found %v (-model +store):\n%s", want.ID, ok, diff)
			}
			var wantQ []etl.QuarantineRecord
			for _, q := range m.quarantine {
				if q.RunID == want.ID {
					wantQ = append(wantQ, q)
				}
			}
			offset := rapid.IntRange(0, len(wantQ)+1).Draw(rt, "offset")
			gotQ, total, err := pages.RunQuarantine(ctx, want.ID, offset, limit)
			fail("RunQuarantine", err)
			if diff := gocmp.Diff(firstN(wantQ[min(offset, len(wantQ)):], limit), gotQ, cmpopts.EquateEmpty(),
				cmpopts.IgnoreFields(etl.QuarantineRecord{}, "ID")); diff != "" || total != len(wantQ) {
				rt.Fatalf("RunQuarantine(%d, offset %d, limit %d): %d in all, model %d (-model +store):\n%s", want.ID, offset, limit, total, len(wantQ), diff)
			}
		}

		var wantCps []etl.Checkpoint
		for key, cp := range m.positions {
			if key[0] == job {
				wantCps = append(wantCps, cp)
			}
		}
		slices.SortFunc(wantCps, func(a, b etl.Checkpoint) int { return cmp.Compare(a.Stream, b.Stream) })
		cps, err := s.Checkpoints(ctx, job)
		fail("Checkpoints", err)
		if diff := gocmp.Diff(wantCps, cps, cmpopts.EquateEmpty()); diff != "" {
			rt.Fatalf("Checkpoints(%s) (-model +store):\n%s", job, diff)
		}

		var files []*modelFile
		for key, f := range m.files {
			if key[0] == job {
				files = append(files, f)
			}
		}
		slices.SortFunc(files, func(a, b *modelFile) int {
			if c := b.rec.LoadedAt.Compare(a.rec.LoadedAt); c != 0 {
				return c
			}
			return cmp.Compare(b.id, a.id)
		})
		wantFiles := make([]etl.FileRecord, len(files))
		for i, f := range files {
			wantFiles[i] = f.rec
		}
		gotFiles, err := s.Files(ctx, job)
		fail("Files", err)
		if diff := gocmp.Diff(wantFiles, gotFiles, cmpopts.EquateEmpty()); diff != "" {
			rt.Fatalf("Files(%s) (-model +store):\n%s", job, diff)
		}
		for _, path := range []string{"in/a.csv", "in/b.csv", "c.csv", "d.csv"} {
			var want *modelFile
			for _, f := range files { // newest first
				if f.rec.Path == path && f.rec.Status == "loaded" {
					want = f
					break
				}
			}
			rec, ok, err := byPath.LastLoaded(ctx, job, path)
			fail("LastLoaded", err)
			if ok != (want != nil) || (ok && !gocmp.Equal(want.rec, rec)) {
				rt.Fatalf("LastLoaded(%s, %s) = %+v, %v; model %+v", job, path, rec, ok, want)
			}
		}
		for _, sha := range []string{"s1", "s2", "s3", "s4"} {
			rec, ok, err := s.LedgerEntry(ctx, job, sha)
			fail("LedgerEntry", err)
			f, want := m.files[[2]string{job, sha}]
			if ok != want || (ok && !gocmp.Equal(f.rec, rec)) {
				rt.Fatalf("LedgerEntry(%s, %s) = %+v, %v; model %v", job, sha, rec, ok, want)
			}
		}

		var wantQ []etl.QuarantineRecord
		for _, q := range slices.Backward(m.quarantine) {
			if q.Job == job {
				wantQ = append(wantQ, q)
			}
		}
		gotQ, err := s.Quarantined(ctx, job, 0)
		fail("Quarantined", err)
		if diff := gocmp.Diff(wantQ, gotQ, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(etl.QuarantineRecord{}, "ID")); diff != "" {
			rt.Fatalf("Quarantined(%s) (-model +store):\n%s", job, diff)
		}
		gotQ, err = s.Quarantined(ctx, job, limit)
		fail("Quarantined", err)
		if diff := gocmp.Diff(firstN(wantQ, limit), gotQ, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(etl.QuarantineRecord{}, "ID")); diff != "" {
			rt.Fatalf("Quarantined(%s, limit %d) (-model +store):\n%s", job, limit, diff)
		}

		var stagedRejects, stagedFiles int
		for _, st := range m.staged {
			if st.job == job {
				stagedRejects, stagedFiles = stagedRejects+len(st.rejects), stagedFiles+len(st.files)
			}
		}
		for table, want := range map[string]int{"staged_quarantine": stagedRejects, "staged_files": stagedFiles} {
			var n int
			err := db.DB().GetContext(ctx, &n, db.DB().Rebind(`SELECT count(*) FROM "`+table+`" WHERE "job" = ?`), job)
			fail("count "+table, err)
			if n != want {
				rt.Fatalf("%s holds %d rows of %s, model %d", table, n, job, want)
			}
		}

		owner, expires, held, err := s.LeaseHolder(ctx, job)
		fail("LeaseHolder", err)
		l, want := m.leases[job]
		if held != want || owner != l.owner || !expires.Equal(l.expires) {
			rt.Fatalf("LeaseHolder(%s) = %q until %s (%v), model %+v (%v)", job, owner, expires, held, l, want)
		}
	}
	for _, target := range targets {
		got, err := s.Fingerprints(ctx, target, []string{"1", "2", "3", "4"})
		if err != nil {
			rt.Fatal(err)
		}
		want := map[string]string{}
		for key, fp := range m.fingerprint {
			if key[0] == target {
				want[key[1]] = fp
			}
		}
		if diff := gocmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			rt.Fatalf("Fingerprints(%s) (-model +store):\n%s", target, diff)
		}
	}
}
