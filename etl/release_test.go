package etl_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// reusingSource serves rows of one string field "v" in batches built, like
// the CSV decoder's, on the vectors of batches the runner released: a
// batch released too early has its rows overwritten by a later one.
type reusingSource struct {
	sizes []int // rows of each batch

	mu       sync.Mutex
	free     []reusable
	next     int
	row      int
	released int // batches released
	reused   int // batches built on released vectors
}

func (s *reusingSource) Open(context.Context, etl.SourceEnv) error { return nil }
func (s *reusingSource) Close(context.Context) error               { return nil }

func (s *reusingSource) Next(context.Context) (*etl.Batch, error) {
	if s.next >= len(s.sizes) {
		return nil, etl.ErrEndOfInput
	}
	n := s.sizes[s.next]
	s.next++
	s.mu.Lock()
	var mem reusable
	if k := len(s.free); k > 0 && cap(s.free[k-1].strs) >= n {
		mem, s.free = s.free[k-1], s.free[:k-1]
		mem.strs = mem.strs[:n]
		s.reused++
	} else {
		mem = reusable{strs: make([]string, n, 8)}
	}
	s.mu.Unlock()
	nulls := make([]bool, n)
	b := &etl.Batch{Schema: etl.MustSchema(etl.Field{Name: "v", Type: etl.TypeString}), Origins: make([]etl.Origin, n),
		Position: etl.Position(fmt.Sprintf(`"p%d"`, s.next))}
	ends := make([]int, n)
	mem.text = mem.text[:0]
	for i := range n {
		mem.text = fmt.Appendf(mem.text, "row %d", s.row)
		ends[i] = len(mem.text)
		b.Origins[i] = etl.Origin{File: "in.csv", Line: int64(s.row + 2)}
		s.row++
	}
	for i := range n { // strings into the text, as the CSV decoder's point into its arena
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		mem.strs[i] = unsafe.String(&mem.text[start], ends[i]-start)
	}
	b.Cols = []etl.Column{{Type: etl.TypeString, Str: mem.strs, Null: nulls}}
	b.OnRelease(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.free = append(s.free, mem)
		s.released++
	})
	return b, nil
}

// reusable is the memory of a reusingSource batch: its strings and the
// text they point into.
type reusable struct {
	strs []string
	text []byte
}

// checkingTarget takes each batch's rows at Write and, being a Syncer
// that keeps its batches until Sync (as a database target keeps them to
// load again after a transient failure), checks at Sync that they still
// hold those rows. Releases says what ReleasesBatches reports.
type checkingTarget struct {
	etltest.Target
	Every    int
	Releases bool
	// AtWrite: a WriteReleaser keeping no batch past Write (it takes the
	// rows and checks nothing at Sync).
	AtWrite bool

	mu       sync.Mutex
	unsynced int
	held     []*etl.Batch
	taken    [][]string
	written  []string
	changed  []string // what a Sync found changed
}

func (t *checkingTarget) ReleasesBatches() bool { return t.Releases }
func (t *checkingTarget) ReleasesAtWrite() bool { return t.AtWrite }

func batchRows(b *etl.Batch) []string {
	rows := make([]string, b.Len())
	for i := range rows {
		rows[i] = fmt.Sprintf("%s %s", b.Origins[i], b.Cols[0].Str[i])
	}
	return rows
}

func (t *checkingTarget) Write(ctx context.Context, b *etl.Batch) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	rows := batchRows(b)
	t.written = append(t.written, rows...)
	t.unsynced++
	if !t.AtWrite {
		t.held, t.taken = append(t.held, b), append(t.taken, rows)
	}
	return nil
}

func (t *checkingTarget) Sync(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, b := range t.held {
		if diff := cmp.Diff(t.taken[k], batchRows(b)); diff != "" {
			t.changed = append(t.changed, fmt.Sprintf("batch %d (-written +at Sync):\n%s", b.Seq, diff))
		}
	}
	t.held, t.taken, t.unsynced = nil, nil, 0
	return nil
}

func (t *checkingTarget) SyncDue() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unsynced >= t.Every
}

// holdStep is a Flusher that holds nothing: its presence alone must stop
// releases (a step holding rows keeps batches).
type holdStep struct{}

func (holdStep) Apply(_ context.Context, b *etl.Batch) (*etl.Batch, error) { return b, nil }
func (holdStep) Flush(context.Context) (*etl.Batch, error)                 { return nil, nil }
func (holdStep) ReleasesBatches() bool                                     { return true }

// passStep hands on a new batch sharing the input's vectors, as a step
// may; it releases its batches.
type passStep struct{}

func (passStep) Apply(_ context.Context, b *etl.Batch) (*etl.Batch, error) {
	return &etl.Batch{Schema: b.Schema, Cols: b.Cols, Origins: b.Origins}, nil
}
func (passStep) ReleasesBatches() bool { return true }

// rejectStep quarantines every third row (by its number in "row N") with
// its value as both the reject's value and its reason, strings that point
// into the batch's memory; it releases its batches.
type rejectStep struct{}

func (rejectStep) Apply(_ context.Context, b *etl.Batch) (*etl.Batch, error) {
	keep := make([]bool, b.Len())
	for i, v := range b.Cols[0].Str {
		var n int
		fmt.Sscanf(v, "row %d", &n)
		if keep[i] = n%3 != 0; !keep[i] {
			b.Reject(i, "reject", "v", v, v)
		}
	}
	b.Keep(keep)
	return b, nil
}
func (rejectStep) ReleasesBatches() bool { return true }

// TestRunnerReleasesBatchesOnlyWhenDone searches runs (math/rand, the seed
// logged) for a batch whose vectors were reused while a target still held
// it: random batch sizes, sync intervals and targets (a Syncer keeping
// its batches until Sync or done with them at Write, a plain target, one
// that does not release), and
// sometimes a step that hands on a new batch or holds rows. Every row must
// reach every target intact, no held batch may change before its Sync, and
// batches are released (and reused) exactly when every step and target
// releases them.
func TestRunnerReleasesBatchesOnlyWhenDone(t *testing.T) {
	t.Parallel()
	rng := seededRand(t)
	totalReused := 0
	for run := range 60 {
		s := newSetup(t)
		src := &reusingSource{}
		rows := 0
		for range 1 + rng.IntN(30) {
			n := 1 + rng.IntN(8)
			src.sizes = append(src.sizes, n)
			rows += n
		}
		syncer := &checkingTarget{Every: 1 + rng.IntN(5), Releases: true, AtWrite: rng.IntN(3) == 0}
		job := &etl.Job{Name: "j", Source: src, Targets: []etl.NamedTarget{{Name: "db", Target: syncer}}}
		var plain *etltest.Target
		releases := true
		switch rng.IntN(4) {
		case 0:
			plain = &etltest.Target{}
			job.Targets = append(job.Targets, etl.NamedTarget{Name: "keeps", Target: plain})
			releases = false
		case 1:
			syncer.Releases = false
			releases = false
		}
		switch rng.IntN(4) {
		case 0:
			job.Steps = []etl.NamedStep{{Name: "hold", Step: holdStep{}}}
			releases = false
		case 1:
			job.Steps = []etl.NamedStep{{Name: "pass", Step: passStep{}}}
		case 2:
			job.Steps = []etl.NamedStep{{Name: "reject", Step: rejectStep{}}}
		}
		rejecting := len(job.Steps) == 1 && job.Steps[0].Name == "reject"
		desc := fmt.Sprintf("run %d: batches %v, sync every %d (done at write %v), steps %d, targets %d, releases %v",
			run, src.sizes, syncer.Every, syncer.AtWrite, len(job.Steps), len(job.Targets), releases)
		if _, err := s.runner.Run(context.Background(), job, etl.RunOptions{}); err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		for _, c := range syncer.changed {
			t.Errorf("%s: a batch changed while the target held it: %s", desc, c)
		}
		var want, wantQuarantine []string
		for i := range rows {
			if rejecting && i%3 == 0 {
				wantQuarantine = append(wantQuarantine, fmt.Sprintf("in.csv:%d value %q reason %q", i+2, fmt.Sprint("row ", i), fmt.Sprint("row ", i)))
				continue
			}
			want = append(want, fmt.Sprintf("in.csv:%d row %d", i+2, i))
		}
		if diff := cmp.Diff(want, syncer.written); diff != "" {
			t.Errorf("%s: rows written (-want +got):\n%s", desc, diff)
		}
		if plain != nil && plain.Rows() != len(want) {
			t.Errorf("%s: the plain target got %d rows, want %d", desc, plain.Rows(), len(want))
		}
		q, err := s.store.Quarantined(context.Background(), "j", 0)
		if err != nil {
			t.Fatal(err)
		}
		var gotQuarantine []string
		for _, r := range slices.Backward(q) { // newest first
			gotQuarantine = append(gotQuarantine, fmt.Sprintf("%s value %q reason %q", r.Origin, r.Value, r.Reason))
		}
		if diff := cmp.Diff(wantQuarantine, gotQuarantine); diff != "" {
			t.Errorf("%s: quarantine (-want +got):\n%s", desc, diff)
		}
		switch {
		case releases && src.released != len(src.sizes):
			t.Errorf("%s: %d of %d batches released", desc, src.released, len(src.sizes))
		case !releases && src.released != 0:
			t.Errorf("%s: %d batches released, want none", desc, src.released)
		}
		totalReused += src.reused
	}
	if totalReused == 0 {
		t.Error("no batch was built on released vectors: the search checked nothing")
	}
}

// seededRand returns a generator seeded from the clock, the seed logged so
// that a failing search can be replayed.
func seededRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// countingSource serves n batches and counts those handed out and not yet
// released (live), keeping the most it saw at once.
type countingSource struct {
	n, next int

	mu        sync.Mutex
	live, max int
}

func (s *countingSource) Open(context.Context, etl.SourceEnv) error { return nil }
func (s *countingSource) Close(context.Context) error               { return nil }

func (s *countingSource) Next(context.Context) (*etl.Batch, error) {
	if s.next >= s.n {
		return nil, etl.ErrEndOfInput
	}
	s.next++
	b := etltest.StringBatch("in.csv", int64(1+s.next), fmt.Sprintf(`"p%d"`, s.next), []string{"id"}, []string{fmt.Sprint(s.next)})
	s.mu.Lock()
	s.live++
	s.max = max(s.max, s.live)
	s.mu.Unlock()
	b.OnRelease(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.live--
	})
	return b, nil
}

// releasingTarget is a plain target done with each batch at Write.
type releasingTarget struct{ etltest.Target }

func (*releasingTarget) ReleasesBatches() bool { return true }

// TestRunnerBoundsBatchesInFlight searches runs (math/rand, the seed
// logged) for more batches alive at once than the stages can hold: with
// channels of Buffer batches, one batch in the reader's hand and one in
// the sink's, Buffer+2 without steps (the reader feeds the sink) and
// 2·Buffer+3 with them (one more channel and the step stage's batch). The
// target dawdles at random so that the reader fills the pipeline; every
// batch must still arrive and be released.
func TestRunnerBoundsBatchesInFlight(t *testing.T) {
	t.Parallel()
	rng := seededRand(t)
	filled := 0
	for run := range 40 {
		s := newSetup(t)
		s.runner.Buffer = rng.IntN(3)
		src := &countingSource{n: 1 + rng.IntN(40)}
		dawdle := rng.IntN(3)
		target := &releasingTarget{}
		target.WriteHook = func(*etl.Batch) error {
			for range dawdle * 100 {
				runtime.Gosched()
			}
			if dawdle == 2 {
				time.Sleep(100 * time.Microsecond)
			}
			return nil
		}
		job := &etl.Job{Name: "j", Source: src, Targets: []etl.NamedTarget{{Name: "out", Target: target}}}
		bound := s.runner.Buffer + 2
		if rng.IntN(2) == 0 {
			job.Steps = []etl.NamedStep{{Name: "pass", Step: passStep{}}}
			bound = 2*s.runner.Buffer + 3
		}
		desc := fmt.Sprintf("run %d: %d batches, buffer %d, steps %d, dawdle %d", run, src.n, s.runner.Buffer, len(job.Steps), dawdle)
		if _, err := s.runner.Run(context.Background(), job, etl.RunOptions{}); err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		if src.max > bound {
			t.Errorf("%s: %d batches alive at once, want at most %d", desc, src.max, bound)
		}
		if src.max == bound {
			filled++
		}
		if got := len(target.Written); got != src.n {
			t.Errorf("%s: %d batches written, want %d", desc, got, src.n)
		}
		if src.live != 0 {
			t.Errorf("%s: %d batches never released", desc, src.live)
		}
	}
	if filled == 0 {
		t.Error("no run filled the pipeline: the search checked no bound")
	}
}
