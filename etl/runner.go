package etl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrStopped ends a run that was asked to stop (RunOptions.Stop) before the
// end of its input; everything read until then was written and recorded.
var ErrStopped = errors.New("stopped before the end of input")

// ErrTooManyRejects fails a run whose share of rejected rows exceeds the
// job's MaxRejectRatio.
var ErrTooManyRejects = errors.New("too many rejected rows")

// RunOptions tune one run.
type RunOptions struct {
	// Trigger records why the run started: "cli", "schedule", "watch".
	Trigger string
	// DryRun reads and transforms but writes nothing and records no
	// position.
	DryRun bool
	// FullRefresh reads from the start, ignoring the position and the file
	// ledger.
	FullRefresh bool
	// Limit stops reading after this many source rows; 0 means no limit.
	// The position of the last batch read is still recorded, so the next
	// run continues where this one stopped.
	Limit int64
	// Progress, if set, is called after each batch with the run's counters.
	Progress func(Counters)
	// DryRunReport, if set, is told in a dry run of each batch as it would
	// reach each target (after the target's route): its rows, and what a
	// DryRunner target would send for it (nil for other targets).
	DryRunReport func(target string, rows int, sends []string)
	// Stop, when closed, ends the run gracefully: no further batch is read,
	// the batches already read are written and checkpointed, and the run
	// ends with ErrStopped. Cancelling the context instead aborts at once
	// (a batch being written is rolled back and read again next time).
	Stop <-chan struct{}
	// Partition, when set, runs one partition of the job (a worker's share
	// of its input, see PartitionStore): the run, its position stream
	// ("partition/<Partition>") and its lease ("<job>#<Partition>") are
	// the partition's own, while the file ledger, quarantine and
	// fingerprints stay the job's. The store must be a PartitionStore.
	Partition string
}

// PartitionStore is a Store that records runs of one partition of a job
// (RunOptions.Partition): the PostgreSQL store of a cluster of workers.
type PartitionStore interface {
	Store
	// BeginPartitionRun records a new running run of a job's partition and
	// returns its id. Runs of the same partition still marked running (a
	// worker that died) become interrupted; the job's other runs are left
	// alone.
	BeginPartitionRun(ctx context.Context, job, partition, trigger string, at time.Time) (int64, error)
}

// Runner drives jobs: source → steps → targets through bounded channels,
// with the checkpoint protocol of DESIGN §2.
type Runner struct {
	Store  Store
	Clock  Clock
	Logger *slog.Logger
	// Owner identifies this process in job leases.
	Owner string
	// LeaseTTL is how long a lease lasts without renewal; the runner renews
	// it at every checkpoint. Default 10 minutes.
	LeaseTTL time.Duration
	// Buffer is the capacity of the channels between stages; default 0:
	// a stage hands its batch over when the next one takes it, so each
	// stage holds one batch and works on it while the others work on
	// theirs. Each slot is one more batch held in memory: on 1M leads,
	// CSV → CSV and → SQLite, 1 against 0 measured no faster, in the same
	// CPU time, with 5-7 MB more private memory.
	Buffer int
	// SyncIdle is how long the sink waits for the next batch, with batches
	// a Syncer target holds unsynced, before it syncs them anyway (so a
	// slow source does not hold their checkpoint back); default 200ms.
	SyncIdle time.Duration
	// OwnerGone, if set, reports whether the owner of a held lease is known
	// to be dead (a process on this machine that no longer exists, after a
	// kill -9): its lease is then taken over at once instead of waiting for
	// it to expire.
	OwnerGone func(owner string) bool
}

// stream is the position stream of a job's runs; a partition's runs have
// one of their own (PartitionStream).
const stream = ""

// PartitionStream is the position stream of a job's partition: a worker
// that plans a partition continuing a failed one's load seeds it with that
// one's checkpoint.
func PartitionStream(partition string) string { return "partition/" + partition }

// Run runs job once and returns the run's record. The error is the run's
// failure, if any; the record is returned in both cases once a run was
// begun.
func (r *Runner) Run(ctx context.Context, job *Job, opts RunOptions) (Run, error) {
	clock := SystemClockOr(r.Clock)
	syncIdle := r.SyncIdle
	if syncIdle <= 0 {
		syncIdle = 200 * time.Millisecond
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("job", job.Name)
	ttl := r.LeaseTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	owner := r.Owner
	if owner == "" {
		owner = "nightjar"
	}

	lease, st := job.Name, stream
	var parts PartitionStore
	if opts.Partition != "" {
		var ok bool
		if parts, ok = r.Store.(PartitionStore); !ok {
			return Run{}, fmt.Errorf("job %s: partition %s: the state store cannot record partitions", job.Name, opts.Partition)
		}
		lease, st = job.Name+"#"+opts.Partition, PartitionStream(opts.Partition)
		log = log.With("partition", opts.Partition)
	}
	if err := r.acquireLease(ctx, lease, owner, ttl, clock, log); err != nil {
		return Run{}, fmt.Errorf("job %s: %w", job.Name, err)
	}
	defer func() {
		// The lease is released even when ctx is cancelled.
		if err := r.Store.ReleaseLease(context.WithoutCancel(ctx), lease, owner); err != nil {
			log.Warn("release lease", "err", err)
		}
	}()

	trigger := opts.Trigger
	if trigger == "" {
		trigger = "cli"
	}
	started := clock.Now()
	var runID int64
	var err error
	if parts != nil {
		runID, err = parts.BeginPartitionRun(ctx, job.Name, opts.Partition, trigger, started)
	} else {
		runID, err = r.Store.BeginRun(ctx, job.Name, trigger, started)
	}
	if err != nil {
		return Run{}, fmt.Errorf("job %s: begin run: %w", job.Name, err)
	}
	p := &pipeline{r: r, job: job, opts: opts, clock: clock, syncIdle: syncIdle, log: log.With("run", runID), runID: runID,
		owner: owner, ttl: ttl, lease: lease, stream: st}
	p.rewinds = p.canRewind()
	runErr := p.run(ctx)
	waits := rewindBackoff.NewBackOff()
	for attempt, last := 1, int64(0); p.rewinds && IsRewind(runErr); attempt++ {
		if p.checkpoints != last {
			// A checkpoint since the last failure: a new streak.
			attempt, last = 1, p.checkpoints
			waits.Reset()
		}
		if attempt == rewindAttempts || ctx.Err() != nil || p.stopRequested() {
			if attempt > 1 {
				runErr = fmt.Errorf("after %d attempts: %w", attempt, runErr)
			}
			break
		}
		p.log.Warn("a target failed and rolled back: reading again from the last checkpoint", "attempt", attempt, "err", runErr)
		if err := Sleep(ctx, clock, waits.NextBackOff()); err != nil {
			runErr = errors.Join(runErr, err)
			break
		}
		p.rewind()
		runErr = p.run(ctx)
	}

	status := RunSucceeded
	errText := ""
	switch {
	case runErr == nil:
	case errors.Is(runErr, context.Canceled) && ctx.Err() != nil:
		// A context cancelled with a cause (a run timeout) is a failure;
		// a plain cancel (a second Ctrl-C) is not.
		status, errText = RunCancelled, runErr.Error()
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			status, errText = RunFailed, cause.Error()
		}
	case errors.Is(runErr, ErrStopped):
		status, errText = RunCancelled, runErr.Error()
	default:
		status, errText = RunFailed, runErr.Error()
	}
	ended := clock.Now()
	if err := r.Store.EndRun(context.WithoutCancel(ctx), runID, status, p.counters, errText, ended); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("record end of run: %w", err))
	}
	return Run{
		ID: runID, Job: job.Name, Trigger: trigger, Status: status,
		StartedAt: started, EndedAt: ended, Counters: p.counters, Error: errText,
	}, runErr
}

// acquireLease takes the job's lease, taking over the lease of an owner
// that is gone.
func (r *Runner) acquireLease(ctx context.Context, job, owner string, ttl time.Duration, clock Clock, log *slog.Logger) error {
	err := r.Store.AcquireLease(ctx, job, owner, ttl, clock.Now())
	if !errors.Is(err, ErrLeaseHeld) || r.OwnerGone == nil {
		return err
	}
	holder, _, ok, herr := r.Store.LeaseHolder(ctx, job)
	if herr != nil || !ok || holder == owner || !r.OwnerGone(holder) {
		return err
	}
	log.Warn("taking over the lease of a process that is gone", "owner", holder)
	// Only the dead owner's lease is removed; if another process takes it
	// first, the acquire below fails with ErrLeaseHeld as it should.
	if err := r.Store.ReleaseLease(ctx, job, holder); err != nil {
		return err
	}
	return r.Store.AcquireLease(ctx, job, owner, ttl, clock.Now())
}

// rewindAttempts bounds the attempts of a run that rewinds (see
// TargetEnv.Rewinds), and rewindBackoff spaces them: the attempts of one
// transaction, at the scale of a SQL target's own retries.
const rewindAttempts = 4

var rewindBackoff = Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}

// canRewind reports whether the run may answer a target's Rewind failure
// by reading again from the last checkpoint: its source and targets reopen
// (see Reopener), and nothing holds the checkpoint back to the end of the
// run (a target durable only at commit, a step holding rows, whose state
// would be lost). A dry run writes nothing; a row limit counts the rows
// read from the start. A full refresh reads on, in its load, from its
// last checkpoint (SourceEnv.FullRefresh).
func (p *pipeline) canRewind() bool {
	if p.opts.DryRun || p.opts.Limit > 0 || !reopens(p.job.Source) {
		return false
	}
	for _, t := range p.job.Targets {
		if !reopens(t.Target) || t.Target.Durability() == DurableAtCommit {
			return false
		}
	}
	for _, s := range p.job.Steps {
		if _, ok := s.Step.(Flusher); ok {
			return false
		}
	}
	return true
}

// rewind takes the run back to its last recorded checkpoint before it is
// run again: what was counted since was rolled back, and is read again.
func (p *pipeline) rewind() {
	p.rewound = true
	p.counters = p.recorded
	p.pending, p.pendingRows, p.dirty = Commit{}, 0, false
	p.endOfInput = false
}

// stopRequested reports whether RunOptions.Stop asked the run to stop.
func (p *pipeline) stopRequested() bool {
	select {
	case <-p.opts.Stop:
		return true
	default:
		return false
	}
}

type pipeline struct {
	r        *Runner
	job      *Job
	opts     RunOptions
	clock    Clock
	syncIdle time.Duration
	log      *slog.Logger
	runID    int64
	owner    string
	ttl      time.Duration
	// lease and stream are the job's, or its partition's (RunOptions.Partition).
	lease, stream string

	// counters are owned by the sink stage until the stages have stopped;
	// recorded are those of the last checkpoint recorded (owned by the
	// commit stage), where a rewind takes them back to.
	counters, recorded Counters
	// rewinds is set when the run answers a target's Rewind failure by
	// reading again from the last checkpoint (canRewind); checkpoints
	// counts those recorded, so that each streak of failures without one
	// between them has its rewindAttempts.
	rewinds     bool
	checkpoints int64
	// rewound is set once the run was rewound: it reads on in its load.
	rewound bool
	// load is the load this run continues or begins (Checkpoint.Load).
	load string
	// pendingRows are the rows of the batches written since the last
	// checkpoint was taken: they count as written (or skipped) once every
	// target has made them durable, when that checkpoint is taken.
	pendingRows int64
	// quarantined counts the rejects the state store recorded, and
	// stagedRejects and stagedFiles what it set aside for the run's final
	// checkpoint (see Store.Stage); owned by the commit stage, then by run.
	quarantined                int64
	stagedRejects, stagedFiles int
	// pending is what the next checkpoint records when positions are held
	// back (a target durable only at commit, or a step holding rows).
	pending Commit
	dirty   bool
	// stopped is ErrStopped once the read stage honoured RunOptions.Stop.
	stopped error
	// endOfInput is set once the source said ErrEndOfInput (set by the
	// read stage; read after the stages end).
	endOfInput bool
}

// fullPass reports whether the run read the job's whole input (see
// TargetEnv.FullPass); called once reading has ended.
func (p *pipeline) fullPass() bool {
	if !p.opts.FullRefresh || !p.endOfInput || p.stopped != nil {
		return false
	}
	max := p.job.MaxRejectRatio
	return max <= 0 || p.counters.Read == 0 || float64(p.counters.Rejected)/float64(p.counters.Read) <= max
}

func (p *pipeline) run(ctx context.Context) (err error) {
	job := p.job
	cp, err := p.r.Store.Checkpoint(ctx, job.Name, p.stream)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	// A job that starts from nothing (its first run, after a state reset)
	// or reloads everything (a full refresh) begins a new load, recorded
	// before anything is written: its batch keys match no replay marker of
	// an earlier load, and a run that crashes resumes it with the same keys.
	// A rewound attempt continues the load its first attempt began.
	fresh := p.opts.FullRefresh && !p.rewound
	p.load = cp.Load
	if !p.opts.DryRun && (fresh || (cp.Load == "" && cp.Position == nil && cp.Seq == 0)) {
		p.load = newLoadID()
		if err := p.r.Store.StartLoad(ctx, job.Name, p.stream, p.load, p.runID, p.clock.Now()); err != nil {
			return fmt.Errorf("start load: %w", err)
		}
		cp = Checkpoint{Job: job.Name, Stream: p.stream, Load: p.load}
	}
	startPos := cp.Position
	if fresh {
		startPos = nil
	}
	batchSize := job.BatchSize
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	if p.opts.Limit > 0 && p.opts.Limit < int64(batchSize) {
		batchSize = int(p.opts.Limit)
	}
	env := SourceEnv{
		Job: job.Name, Position: startPos, FullRefresh: p.opts.FullRefresh,
		BatchSize: batchSize, Ledger: p.r.Store, Logger: p.log, Clock: p.clock,
	}
	if !p.opts.DryRun {
		env.Notes = scopedFingerprints{p.r.Store, job.Name}
	}
	if err := job.Source.Open(ctx, env); err != nil {
		return fmt.Errorf("open source: %w", err)
	}
	defer func() {
		// Last, after the final checkpoint and its Ack: a failure here is
		// the run's (reported, not logged), though nothing committed is
		// taken back. Like the checkpoint, it is not abandoned on cancel.
		if cerr := job.Source.Close(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close source: %w", cerr))
		}
	}()

	if !p.opts.DryRun {
		env := TargetEnv{
			Job: job.Name, RunID: p.runID, RunDate: p.clock.Now().UTC(), Logger: p.log, Clock: p.clock,
			Partition: p.opts.Partition, FullRefresh: p.opts.FullRefresh, Fingerprints: scopedFingerprints{p.r.Store, job.Name},
			FullPass: p.fullPass, Rewinds: p.rewinds,
		}
		for i, t := range job.Targets {
			env.Name = t.Name
			_, env.Syncs = t.Target.(Syncer)
			if err := t.Target.Open(ctx, env); err != nil {
				for _, opened := range job.Targets[:i] {
					opened.Target.Close()
				}
				return fmt.Errorf("open %s: %w", t.Name, err)
			}
		}
		defer func() {
			for _, t := range job.Targets {
				if cerr := t.Target.Close(); cerr != nil && err == nil {
					err = fmt.Errorf("close %s: %w", t.Name, cerr)
				}
			}
		}()
	}

	// Positions are held back until the end when a target is durable only
	// at its commit, or a step holds rows across batches.
	holdBack := false
	for _, t := range job.Targets {
		if t.Target.Durability() == DurableAtCommit {
			holdBack = true
		}
	}
	for _, s := range job.Steps {
		if _, ok := s.Step.(Flusher); ok {
			holdBack = true
		}
	}

	buffer := max(p.r.Buffer, 0)
	transformed := make(chan *Batch, buffer)
	g, gctx := errgroup.WithContext(ctx)
	if len(job.Steps) == 0 {
		// Without steps, a step stage would only pass batches on, and hold
		// one more batch and one more channel's worth in memory while the
		// source outruns the targets: the reader feeds the sink directly.
		g.Go(func() error {
			defer close(transformed)
			return p.readStage(gctx, cp.Seq, transformed)
		})
	} else {
		read := make(chan *Batch, buffer)
		g.Go(func() error {
			defer close(read)
			return p.readStage(gctx, cp.Seq, read)
		})
		g.Go(func() error {
			defer close(transformed)
			return p.stepStage(gctx, read, transformed)
		})
	}
	// Checkpoints are recorded by their own stage, in order, while the
	// targets already write the next batch: the state store's commit (an
	// fsync) then costs no target time. A batch written but not yet
	// recorded when the process dies is replayed, which targets absorb.
	commits := make(chan Commit, 1)
	committerDone := make(chan struct{})
	g.Go(func() error {
		defer close(commits)
		return p.sinkStage(gctx, transformed, holdBack, commits, committerDone)
	})
	g.Go(func() error {
		defer close(committerDone)
		for c := range commits {
			if err := p.record(gctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	err = g.Wait()
	if !p.opts.DryRun {
		// Rejected counts what the quarantine holds, not what was seen.
		p.counters.Rejected = p.quarantined
	}
	if err != nil {
		return err
	}

	if p.opts.DryRun {
		return p.stopped
	}
	for _, t := range job.Targets {
		if err := t.Target.Commit(ctx); err != nil {
			return fmt.Errorf("commit %s: %w", t.Name, err)
		}
	}
	if p.dirty {
		err := p.record(ctx, p.takePending())
		p.counters.Rejected = p.quarantined
		if err != nil {
			return err
		}
	}
	if max := job.MaxRejectRatio; max > 0 && p.counters.Read > 0 {
		if ratio := float64(p.counters.Rejected) / float64(p.counters.Read); ratio > max {
			return fmt.Errorf("%w: %d of %d rows (%.1f%%, on_reject.max_ratio is %.1f%%)",
				ErrTooManyRejects, p.counters.Rejected, p.counters.Read, 100*ratio, 100*max)
		}
	}
	return p.stopped
}

// readStage pulls batches from the source, numbers them and applies the
// row limit.
func (p *pipeline) readStage(ctx context.Context, seq int64, out chan<- *Batch) error {
	var rows int64
	for {
		if p.opts.Limit > 0 && rows >= p.opts.Limit {
			return nil
		}
		if p.stopRequested() {
			// Set before close(read): the other stages read it after.
			p.stopped = ErrStopped
			return nil
		}
		b, err := p.job.Source.Next(ctx)
		if errors.Is(err, ErrEndOfInput) {
			p.endOfInput = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		seq++
		b.Seq, b.Load = seq, p.load
		b.readRows = int64(b.Len() + len(b.Rejects))
		rows += int64(b.Len())
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stepStage runs the batches through the job's steps (StepChain); at the
// end of input it flushes the steps that hold rows.
func (p *pipeline) stepStage(ctx context.Context, in <-chan *Batch, out chan<- *Batch) error {
	send := func(b *Batch) error {
		select {
		case out <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	chain := StepChain{Steps: p.job.Steps}
	var last *Batch
	for b := range in {
		read := b.readRows
		b, err := chain.Apply(ctx, b)
		if err != nil {
			return err
		}
		b.readRows = read
		last = b
		if err := send(b); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Flushed batches belong to the end of input: they carry the last
	// position, so the checkpoint that covers them is the final one. Each
	// gets a sequence number of its own after the last batch read, so that
	// a target skipping replays by BatchKey takes none of them for another.
	seq := int64(0)
	if last != nil {
		seq = last.Seq
	}
	return chain.Flush(ctx, func(fb *Batch) error {
		if last != nil {
			seq++
			fb.Position, fb.Seq = last.Position, seq
		}
		fb.Load = p.load
		return send(fb)
	})
}

// StepChain runs batches through a job's steps the way a run does, and is
// the one place that does: the runner, preview and step tests use it.
// Each batch goes through every step in order (Apply), streaming; at the
// end of input (Flush) each holding step is flushed in order, every batch
// it flushes going on through the steps after it.
type StepChain struct {
	Steps []NamedStep
	// Tap, if set, sees each batch as it leaves Steps[i], before a later
	// step may change it in place.
	Tap func(i int, b *Batch)
}

// Apply runs b through every step.
func (c StepChain) Apply(ctx context.Context, b *Batch) (*Batch, error) {
	return c.applyFrom(ctx, b, 0)
}

// Run runs batches, all in hand, through the steps and flushes them: the
// batches a run would hand its targets, in order.
func (c StepChain) Run(ctx context.Context, batches []*Batch) ([]*Batch, error) {
	out := make([]*Batch, 0, len(batches)+1)
	for _, b := range batches {
		b, err := c.Apply(ctx, b)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	err := c.Flush(ctx, func(b *Batch) error {
		out = append(out, b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Flush flushes the holding steps (Flusher) in order, once the last batch
// went through Apply; emit receives each flushed batch as it leaves the
// last step.
func (c StepChain) Flush(ctx context.Context, emit func(*Batch) error) error {
	for i, s := range c.Steps {
		f, ok := s.Step.(Flusher)
		if !ok {
			continue
		}
		for {
			fb, err := f.Flush(ctx)
			if err != nil {
				return &StepError{Step: i, Err: fmt.Errorf("%s: flush: %w", s.Name, err)}
			}
			if fb == nil {
				break
			}
			if c.Tap != nil {
				c.Tap(i, fb)
			}
			if fb, err = c.applyFrom(ctx, fb, i+1); err != nil {
				return err
			}
			if err := emit(fb); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c StepChain) applyFrom(ctx context.Context, b *Batch, from int) (*Batch, error) {
	for i := from; i < len(c.Steps); i++ {
		var err error
		if b, err = ApplyStep(ctx, c.Steps[i], b); err != nil {
			return nil, &StepError{Step: i, Err: err}
		}
		if c.Tap != nil {
			c.Tap(i, b)
		}
	}
	return b, nil
}

// StepError is the failure of a StepChain's step: Step is its index in
// Steps; the error reads as Err.
type StepError struct {
	Step int
	Err  error
}

func (e *StepError) Error() string { return e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// ApplyStep runs one step over one batch as the runner does: a step that
// returns a new batch keeps the input's position, sequence, byte count,
// finished files and earlier rejects; errors name the step and the batch's
// first origin. Previews and step tests use it too.
func ApplyStep(ctx context.Context, s NamedStep, b *Batch) (*Batch, error) {
	pos, seq, load, bytes, files, rejects := b.Position, b.Seq, b.Load, b.Bytes, b.Files, b.Rejects
	out, err := s.Step.Apply(ctx, b)
	if err != nil {
		if b.Len() > 0 {
			return nil, fmt.Errorf("%s: batch from %s: %w", s.Name, b.Origins[0], err)
		}
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	if out != b {
		b.passRelease(out)
		out.Position, out.Seq, out.Load, out.Bytes, out.Files = pos, seq, load, bytes, files
		if len(out.Rejects) == 0 {
			out.Rejects = rejects
		}
	}
	return out, nil
}

// detach gives the rejects' strings memory of their own (Reject.Detach).
func detach(rejects []Reject) {
	for i := range rejects {
		rejects[i].Detach()
	}
}

// stageAt is how many rejects and finished files a run whose checkpoint
// is held back to its end gathers before it stages them in the store.
var stageAt = 1024

// sinkStage writes each batch to every target and hands the checkpoints
// to the commit stage: at once when every target is durable per batch,
// after a Sync when some target is a Syncer.
func (p *pipeline) sinkStage(ctx context.Context, in <-chan *Batch, holdBack bool, commits chan<- Commit, committerDone <-chan struct{}) error {
	var syncers []NamedTarget
	if !p.opts.DryRun {
		for _, t := range p.job.Targets {
			if _, ok := t.Target.(Syncer); ok {
				syncers = append(syncers, t)
			}
		}
	}
	// unsynced: a Syncer holds batches that are not durable yet.
	unsynced := false
	// release: every step and target lets go of a batch once done with
	// it (see Releaser), so a written batch is released, after the next
	// Sync when a Syncer keeps its batches until then (holdToSync); held
	// are the batches waiting for it.
	release := !p.opts.DryRun && releasesBatches(p.job)
	holdToSync := false
	for _, t := range syncers {
		if wr, ok := t.Target.(WriteReleaser); !ok || !wr.ReleasesAtWrite() {
			holdToSync = true
		}
	}
	var held []*Batch
	// checkpoint hands the pending checkpoint to the commit stage; false
	// when that stage failed (g.Wait reports why).
	checkpoint := func() bool {
		if holdBack || p.opts.DryRun {
			return true
		}
		// Not abandoned when ctx is cancelled: the batch is durable, so its
		// checkpoint is recorded (the commit stage drains).
		select {
		case commits <- p.takePending():
			return true
		case <-committerDone:
			return false
		}
	}
	syncAll := func(seq int64) error {
		for _, t := range syncers {
			if err := t.Target.(Syncer).Sync(ctx); err != nil {
				return fmt.Errorf("%s: sync after batch %d: %w", t.Name, seq, err)
			}
		}
		unsynced = false
		for i, h := range held {
			h.Release()
			held[i] = nil
		}
		held = held[:0]
		return nil
	}
	// idle runs while unsynced batches wait for the next one (on the
	// runner's clock, so tests move it rather than wait).
	var idle Timer
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	lastSeq := int64(0)
	for {
		var b *Batch
		var ok bool
		if unsynced {
			if idle == nil {
				idle = p.clock.NewTimer(p.syncIdle)
			} else {
				idle.Reset(p.syncIdle)
			}
			select {
			case b, ok = <-in:
				idle.Stop()
			case <-idle.C():
				if err := syncAll(lastSeq); err != nil {
					return err
				}
				if !checkpoint() {
					return nil
				}
				continue
			}
		} else {
			b, ok = <-in
		}
		if !ok {
			break
		}
		p.counters.Read += b.readRows
		p.counters.Rejected += int64(len(b.Rejects))
		p.counters.Bytes += b.Bytes
		p.counters.Batches++
		var targetRejects []Reject
		var refused int
		if !p.opts.DryRun {
			var err error
			if targetRejects, refused, err = p.write(ctx, b); err != nil {
				return err
			}
		} else if err := p.dryRun(ctx, b); err != nil {
			return err
		}
		lastSeq = b.Seq
		if !p.opts.DryRun {
			// A row a target refused (quarantined) did not land.
			p.pendingRows += int64(max(b.Len()-refused, 0))
		}
		p.counters.Rejected += int64(len(targetRejects))
		if release {
			// The rejects outlive the batch (the commit stage stores them
			// after it is released), and their strings may point into
			// its memory, which a later batch reuses (see Releaser).
			detach(targetRejects)
			detach(b.Rejects)
		}
		p.pending.Rejects = append(p.pending.Rejects, targetRejects...)
		if b.Position != nil {
			p.pending.Position = b.Position
			p.pending.Seq = b.Seq
		}
		p.pending.Rejects = append(p.pending.Rejects, b.Rejects...)
		p.pending.Files = append(p.pending.Files, b.Files...)
		p.dirty = true
		if release {
			if !holdToSync {
				b.Release()
			} else {
				held = append(held, b)
			}
		}
		if holdBack && !p.opts.DryRun && len(p.pending.Rejects)+len(p.pending.Files) >= stageAt {
			// Held back to the run's end, they would fill memory: the
			// store keeps them aside until the final checkpoint.
			stage := Commit{RunID: p.runID, Job: p.job.Name, Rejects: p.pending.Rejects, Files: p.pending.Files, At: p.clock.Now(), stage: true}
			p.pending.Rejects, p.pending.Files = nil, nil
			select {
			case commits <- stage:
			case <-committerDone:
				return nil
			}
		}
		if len(syncers) > 0 {
			unsynced = true
			due := false
			for _, t := range syncers {
				due = due || t.Target.(Syncer).SyncDue()
			}
			if due {
				if err := syncAll(b.Seq); err != nil {
					return err
				}
			}
		}
		if !unsynced && !checkpoint() {
			return nil
		}
		if p.opts.Progress != nil {
			p.opts.Progress(p.counters)
		}
	}
	// The end of input, or of a graceful stop; but a failed stage
	// cancelled ctx, and the run fails with what was not synced rolled
	// back.
	if unsynced {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := syncAll(lastSeq); err != nil {
			return err
		}
		checkpoint()
	}
	return nil
}

// write delivers b to every target, concurrently when there are several;
// a routed target gets only the rows routed to it. It returns the rows
// targets refused (see Rejecter) and the most any one target refused.
func (p *pipeline) write(ctx context.Context, b *Batch) (rejects []Reject, refused int, err error) {
	var mu sync.Mutex
	writeOne := func(ctx context.Context, t NamedTarget) error {
		if err := t.Target.Write(ctx, routed(b, t)); err != nil {
			return fmt.Errorf("%s: write batch %d: %w", t.Name, b.Seq, err)
		}
		if r, ok := t.Target.(Rejecter); ok {
			if taken := r.TakeRejects(); len(taken) > 0 {
				mu.Lock()
				rejects = append(rejects, taken...)
				refused = max(refused, len(taken))
				mu.Unlock()
			}
		}
		return nil
	}
	if len(p.job.Targets) == 1 {
		err = writeOne(ctx, p.job.Targets[0])
		return rejects, refused, err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, t := range p.job.Targets {
		g.Go(func() error { return writeOne(gctx, t) })
	}
	err = g.Wait()
	return rejects, refused, err
}

// routed is b as target t receives it: the rows of its route, if any.
func routed(b *Batch, t NamedTarget) *Batch {
	if mask, ok := b.Routes[t.Route]; ok && t.Route != "" {
		return b.Select(mask)
	}
	return b
}

// dryRun tells opts.DryRunReport what each target would receive of b and,
// for a DryRunner, what it would send.
func (p *pipeline) dryRun(ctx context.Context, b *Batch) error {
	if p.opts.DryRunReport == nil {
		return nil
	}
	env := TargetEnv{Job: p.job.Name, RunID: p.runID, RunDate: p.clock.Now().UTC(), Logger: p.log, Clock: p.clock,
		FullRefresh: p.opts.FullRefresh}
	for _, t := range p.job.Targets {
		tb := routed(b, t)
		var sends []string
		if dr, ok := t.Target.(DryRunner); ok && tb.Len() > 0 {
			env.Name = t.Name
			var err error
			if sends, err = dr.DryRun(ctx, env, tb); err != nil {
				return fmt.Errorf("%s: dry run of batch %d: %w", t.Name, b.Seq, err)
			}
		}
		p.opts.DryRunReport(t.Name, tb.Len(), sends)
	}
	return nil
}

// scopedFingerprints keys a job's target fingerprints as "<job>/<target>",
// so that resetting a job's state forgets them.
type scopedFingerprints struct {
	store Fingerprints
	job   string
}

func (f scopedFingerprints) Fingerprints(ctx context.Context, target string, ids []string) (map[string]string, error) {
	return f.store.Fingerprints(ctx, f.job+"/"+target, ids)
}

// AllFingerprints lists a target's records when the store can.
func (f scopedFingerprints) AllFingerprints(ctx context.Context, target string) (map[string]string, error) {
	l, ok := f.store.(FingerprintLister)
	if !ok {
		return nil, fmt.Errorf("the state store cannot list fingerprints")
	}
	return l.AllFingerprints(ctx, f.job+"/"+target)
}

func (f scopedFingerprints) SaveFingerprints(ctx context.Context, target string, digests map[string]string, at time.Time) error {
	return f.store.SaveFingerprints(ctx, f.job+"/"+target, digests, at)
}

// takePending returns what the next checkpoint records: the pending
// position, rejects and finished files with the run's counters so far, and
// starts a new pending set.
//
// It is called once every target has made the pending batches durable, so
// their rows are counted here: as skipped, the most any target reports it
// skipped (see Skipper), the rest as written (rows a target refused were
// never pending: see Rejecter).
func (p *pipeline) takePending() Commit {
	var skipped int64
	for _, t := range p.job.Targets {
		if s, ok := t.Target.(Skipper); ok {
			skipped = max(skipped, s.TakeSkipped())
		}
	}
	skipped = min(skipped, p.pendingRows)
	p.counters.Written += p.pendingRows - skipped
	p.counters.Skipped += skipped
	p.pendingRows = 0

	c := p.pending
	c.RunID, c.Job, c.Stream, c.Load, c.Counters, c.At = p.runID, p.job.Name, p.stream, p.load, p.counters, p.clock.Now()
	p.pending = Commit{}
	p.dirty = false
	return c
}

// newLoadID returns a random load id (see Checkpoint.Load).
func newLoadID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// record writes a checkpoint in one state-store transaction and renews
// the lease. It runs even when ctx was just cancelled: the targets already
// hold the batches, and recording them avoids a replay.
func (p *pipeline) record(ctx context.Context, c Commit) error {
	if p.opts.DryRun {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	if c.stage {
		if err := p.r.Store.Stage(ctx, c); err != nil {
			return err
		}
		p.stagedRejects += len(c.Rejects)
		p.stagedFiles += len(c.Files)
		return nil
	}
	c.Staged = p.stagedRejects+p.stagedFiles > 0
	if c.Position == nil {
		// Nothing was read: keep the stored position as it is.
		cp, err := p.r.Store.Checkpoint(ctx, p.job.Name, p.stream)
		if err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		c.Position, c.Seq = cp.Position, cp.Seq
	}
	// The run's totals as this commit leaves them: the quarantine then
	// holds its rejects too.
	c.Counters.Rejected = p.quarantined + int64(p.stagedRejects+len(c.Rejects))
	if err := p.r.Store.Commit(ctx, c); err != nil {
		return fmt.Errorf("checkpoint batch %d: %w", c.Seq, err)
	}
	p.quarantined = c.Counters.Rejected
	p.recorded = c.Counters
	p.checkpoints++
	p.stagedRejects, p.stagedFiles = 0, 0
	if a, ok := p.job.Source.(Acker); ok {
		// Like the checkpoint, its ack is not abandoned when the run is
		// cancelled: what it lets go of is recorded.
		if err := a.Ack(ctx, c.Position); err != nil {
			return fmt.Errorf("after checkpoint batch %d: %w", c.Seq, err)
		}
	}
	if err := p.r.Store.AcquireLease(ctx, p.lease, p.owner, p.ttl, p.clock.Now()); err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	return nil
}
