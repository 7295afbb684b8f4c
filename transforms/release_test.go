package transforms

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"unsafe"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
)

// releasingKinds are the step kinds whose steps release their batches
// (release.go); TestReleasingKinds keeps the list true.
var releasingKinds = []string{"rename", "select", "drop", "trim", "lower", "upper", "cast", "default", "coalesce", "filter"}

// TestReleasingKinds: a step of a kind in releasingKinds says it releases
// its batches, any other kind's step does not.
func TestReleasingKinds(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		g := &dGen{t: rt, dir: t.TempDir()}
		j := g.job()
		tab := j.input
		var kinds []string
		for _, k := range dStepKinds {
			if k.dOK(&tab) {
				kinds = append(kinds, k.name)
			}
		}
		kind := dKind(rapid.SampledFrom(kinds).Draw(rt, "kind"))
		s := kind.gen(g, &tab)
		step, err := decodeStep(s.yaml, etl.BuildEnv{BaseDir: g.dir, StepName: "s", BatchSize: j.batchSize})
		if err != nil {
			rt.Fatalf("build %s: %v", s.yaml, err)
		}
		got := etl.StepChain{Steps: []etl.NamedStep{{Name: "s", Step: step}}}.ReleasesBatches()
		if want := slices.Contains(releasingKinds, kind.name); got != want {
			rt.Fatalf("%s: releases batches %v, want %v", s.yaml, got, want)
		}
	})
}

// recycledVectors hands out input batches built on the vectors of
// released ones, as the CSV decoder does: a step or target that kept a
// released batch's vectors sees them overwritten with later rows.
type recycledVectors struct {
	size   int // rows a batch holds at most: vectors are made that large
	free   []vectorSet
	reused int
}

// vectorSet is what a batch was built on: its columns, its origins, and
// the text its strings point into (as the CSV decoder's point into its
// arena).
type vectorSet struct {
	cols    []etl.Column
	origins []etl.Origin
	text    []byte
}

// batch copies src into vectors released earlier, or new ones.
func (p *recycledVectors) batch(src *etl.Batch) *etl.Batch {
	var set vectorSet
	if n := len(p.free); n > 0 {
		set, p.free = p.free[n-1], p.free[:n-1]
		p.reused++
	}
	cols := set.cols
	b := &etl.Batch{Schema: src.Schema, Cols: make([]etl.Column, len(src.Cols))}
	mine := vectorSet{cols: make([]etl.Column, len(src.Cols))}
	for j := range src.Cols {
		c := etl.NewColumn(src.Cols[j].Type, p.size)
		if cols != nil {
			old := cols[j]
			c = etl.Column{Type: old.Type, Str: old.Str[:0], Int: old.Int[:0], Float: old.Float[:0], Bool: old.Bool[:0],
				Time: old.Time[:0], JSON: old.JSON[:0], Null: old.Null[:0]}
		}
		for i := range src.Len() {
			c.AppendCell(&src.Cols[j], i)
		}
		b.Cols[j], mine.cols[j] = c, c
	}
	// The strings' bytes go into the released batch's text: a string kept
	// past its batch's release reads a later row's text.
	size := 0
	for _, c := range b.Cols {
		for _, v := range c.Str {
			size += len(v)
		}
	}
	mine.text = set.text[:0]
	if cap(mine.text) < size {
		mine.text = make([]byte, 0, size)
	}
	for _, c := range b.Cols {
		for i, v := range c.Str {
			if v != "" {
				start := len(mine.text)
				mine.text = append(mine.text, v...)
				c.Str[i] = unsafe.String(&mine.text[start], len(v))
			}
		}
	}
	b.Origins = append(set.origins[:0], src.Origins...)
	mine.origins = b.Origins
	b.OnRelease(func() { p.free = append(p.free, mine) })
	return b
}

// TestReleasedBatchesKeepTheirRows searches chains of steps for a row that
// sees another row's data once batches are released and their vectors
// reused: random input and chains (of releasing steps mostly, and of any
// kind sometimes), run once on fresh batches (StepChain.Run, the
// reference) and once streaming as a run does, each input batch built on
// the vectors of released ones, each output batch taken as a target takes
// it when written, held for a drawn while (a Syncer keeps its batches
// until Sync) and released only when the chain says it may be. The rows
// and rejects must be the same, and a held batch must still hold what was
// written when it is released.
func TestReleasedBatchesKeepTheirRows(t *testing.T) {
	var released, reused atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		dir := diffDir(rt)
		defer os.RemoveAll(dir)
		g := &dGen{t: rt, dir: dir}
		job := g.job()
		onlyReleasing := rapid.Float64Range(0, 1).Draw(rt, "p") < 0.8
		tab := job.input
		for range rapid.IntRange(1, 5).Draw(rt, "steps") {
			var kinds []string
			for _, k := range dStepKinds {
				if k.dOK(&tab) && (!onlyReleasing || slices.Contains(releasingKinds, k.name)) {
					kinds = append(kinds, k.name)
				}
			}
			if len(kinds) == 0 {
				break
			}
			kind := dKind(rapid.SampledFrom(kinds).Draw(rt, "kind"))
			step := kind.gen(g, &tab)
			step.kind, step.name = kind.name, fmt.Sprintf("steps[%d] %s", g.steps, kind.name)
			ref := &dRef{step: step, index: g.steps}
			g.steps++
			out, err := step.ref(ref, tab)
			if err != nil {
				break // a chain that fails is the differential test's
			}
			tab = out
			job.steps = append(job.steps, step)
		}
		if len(job.steps) == 0 {
			return
		}
		ctx := context.Background()
		want, err := job.run(ctx)
		if err != nil {
			rt.Fatalf("%s\nreference run: %v", job, err)
		}
		wantRows, wantRejects, err := engineOutput(want)
		if err != nil {
			rt.Fatalf("%s\n%v", job, err)
		}

		steps := make([]etl.NamedStep, len(job.steps))
		for k, s := range job.steps {
			step, err := decodeStep(s.yaml, etl.BuildEnv{BaseDir: job.dir, StepName: s.name, BatchSize: job.batchSize})
			if err != nil {
				rt.Fatalf("build %s: %v", s.name, err)
			}
			steps[k] = etl.NamedStep{Name: s.name, Step: step}
		}
		chain := etl.StepChain{Steps: steps}
		release := chain.ReleasesBatches()
		pool := &recycledVectors{size: job.batchSize}
		var gotRows []string
		var gotRejects []dReject
		type heldBatch struct {
			b    *etl.Batch
			rows []string
		}
		var held []heldBatch
		releaseHeld := func() {
			for _, h := range held {
				rows, _, err := engineOutput([]*etl.Batch{h.b})
				if err != nil {
					rt.Fatalf("%s\nheld batch: %v", job, err)
				}
				if diff := gocmp.Diff(h.rows, rows, cmpopts.EquateEmpty()); diff != "" {
					rt.Fatalf("%s\na held batch changed before its release (-written +at release):\n%s", job, diff)
				}
				h.b.Release()
				released.Add(1)
			}
			held = held[:0]
		}
		write := func(b *etl.Batch) {
			for i := range b.Rejects { // as the runner does: rejects are stored after the release
				b.Rejects[i].Detach()
			}
			rows, rejects, err := engineOutput([]*etl.Batch{b})
			if err != nil {
				rt.Fatalf("%s\n%v", job, err)
			}
			gotRows, gotRejects = append(gotRows, rows...), append(gotRejects, rejects...)
			if release {
				held = append(held, heldBatch{b, rows})
				if rapid.Bool().Draw(rt, "sync") {
					releaseHeld()
				}
			}
		}
		for _, src := range job.batches() {
			out, err := chain.Apply(ctx, pool.batch(src))
			if err != nil {
				rt.Fatalf("%s\nstreaming run: %v", job, err)
			}
			write(out)
		}
		if err := chain.Flush(ctx, func(b *etl.Batch) error { write(b); return nil }); err != nil {
			rt.Fatalf("%s\nstreaming flush: %v", job, err)
		}
		releaseHeld()
		reused.Add(int64(pool.reused))
		if diff := gocmp.Diff(wantRows, gotRows, cmpopts.EquateEmpty()); diff != "" {
			rt.Fatalf("%s\nrows (-fresh batches +released and reused):\n%s", job, diff)
		}
		sortRejects(wantRejects)
		sortRejects(gotRejects)
		if diff := gocmp.Diff(wantRejects, gotRejects, cmpopts.EquateEmpty()); diff != "" {
			rt.Fatalf("%s\nrejects (-fresh batches +released and reused):\n%s", job, diff)
		}
	})
	t.Logf("%d batches released, %d input batches built on released vectors", released.Load(), reused.Load())
	if reused.Load() == 0 {
		t.Error("no input batch reused a released batch's vectors: the test checked nothing")
	}
}
