package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
)

// PartitionArgs is one partition of a run of a files job, or of a SQL
// table source split into key ranges, as a River job: any worker runs it,
// as runs of its own (etl.RunOptions.Partition) whose source loads only
// Files, or only Range.
type PartitionArgs struct {
	Job string `json:"job"`
	// Run is the run the partition belongs to.
	Run int64 `json:"run"`
	// Partition is its id in the state store; Number its place in Run.
	Partition int64 `json:"partition"`
	Number    int   `json:"number"`
	// Files are the partition's files, as the file ledger names them.
	Files []string `json:"files"`
	// Range is the key range a partition of a SQL table source loads
	// (RangeSplitter), From the job's position where its first range
	// starts; Range is nil for files.
	Range *etl.KeyRange `json:"range,omitempty"`
	From  []byte        `json:"from,omitempty"`
}

// Kind names the River job kind.
func (PartitionArgs) Kind() string { return "nightjar_partition" }

// Splitter is a source whose input a worker splits into partitions: the
// files source.
type Splitter interface {
	etl.Source
	// Settled lists the files a run would load now and the ledger does
	// not hold.
	Settled(ctx context.Context, env etl.SourceEnv) ([]etl.FileDone, error)
	// Only restricts the files the source loads to a partition's.
	Only(files []string)
}

// RangeSplitter is a source a worker splits into key ranges: a SQL table
// source with partition_rows (sqlconn.Source).
type RangeSplitter interface {
	etl.Source
	// PartitionRows is the number of rows per range; 0 when the source is
	// not split.
	PartitionRows() int
	// Ranges returns the key ranges, in order, of the rows past
	// env.Position; whyNot says why the source cannot be split (then it is
	// read whole).
	Ranges(ctx context.Context, env etl.SourceEnv) (ranges []etl.KeyRange, whyNot string, err error)
	// OnlyRange restricts the source to one range; from is where the
	// first range starts (the job's position when it was split).
	OnlyRange(r etl.KeyRange, from []byte)
}

// DefaultPartitionBytes is the size up to which small files are grouped
// into one partition unless PartitionOptions say otherwise.
const DefaultPartitionBytes = 64 << 20

// partitionRescues is how many times a partition may be rescued from a
// dead worker (River counts each as an attempt), besides its job's retries.
const partitionRescues = 10

// PartitionOptions turn partitions on (Options.Partitions): a tick of a
// job whose source is a Splitter splits the files it finds into partitions
// instead of running the job.
type PartitionOptions struct {
	// Store is the state store, whose pool River runs on.
	Store *pgstore.Store
	// MaxBytes groups small files into one partition up to this many bytes
	// (a larger file is a partition of its own); default DefaultPartitionBytes.
	MaxBytes int64
	// Build builds job afresh for one run.
	Build func(job string) (*etl.Job, error)
	// Retries is the job's retries: (its partitions fail after as many
	// failed runs, besides rescues from dead workers).
	Retries func(job string) int
	// Run runs a built job (one of its partitions) as `nightjar run` does,
	// recording in Store; end is called in the transaction that records
	// the run succeeded.
	Run func(ctx context.Context, job *etl.Job, opts etl.RunOptions, end func(context.Context, pgx.Tx) error) (etl.Run, error)
	// Owner names this worker in job leases.
	Owner string
	// LeaseAfter is the client's rescue time (Options.RescueAfter): how
	// long a partition may run (its River timeout), and how long one waits
	// for the lease of a run of it still going on elsewhere before it tries
	// again.
	LeaseAfter time.Duration
	// SweepEvery is how often a worker looks for partitions River gave up
	// on without their worker recording it (sweepLost); default the
	// shorter of LeaseAfter and 30 s, River's rescuer's own interval.
	SweepEvery time.Duration
	Clock      etl.Clock
	Logger     *slog.Logger
}

// split wraps launch: a job whose source is a Splitter is split instead
// of run.
func (o *PartitionOptions) split(launch Launch) Launch {
	return func(ctx context.Context, name, trigger string, complete func(context.Context, pgx.Tx) error) (etl.Run, error) {
		job, err := o.Build(name)
		if err != nil {
			return etl.Run{}, etl.Permanent(err)
		}
		if src, ok := job.Source.(RangeSplitter); ok && src.PartitionRows() > 0 {
			return o.planRanges(ctx, job, src, trigger, complete, launch)
		}
		src, ok := job.Source.(Splitter)
		if !ok {
			return launch(ctx, name, trigger, complete)
		}
		return o.plan(ctx, job, src, trigger, complete)
	}
}

// plan begins a run of job whose files are claimed in the ledger, split
// into partitions and inserted as River jobs in one transaction, with the
// tick's completion: a worker killed before it leaves the tick to run
// again and nothing claimed; after it, every claimed file has a partition
// that River will run.
func (o *PartitionOptions) plan(ctx context.Context, job *etl.Job, src Splitter, trigger string, complete func(context.Context, pgx.Tx) error) (etl.Run, error) {
	clock := etl.SystemClockOr(o.Clock)
	log := o.logger().With("job", job.Name)
	if err := o.beginPlan(ctx, job.Name); err != nil {
		return etl.Run{}, err
	}
	defer o.Store.ReleaseLease(context.WithoutCancel(ctx), job.Name, o.Owner)
	files, err := src.Settled(ctx, etl.SourceEnv{Job: job.Name, BatchSize: job.BatchSize, Ledger: o.Store, Logger: log, Clock: clock})
	if err != nil {
		return etl.Run{}, fmt.Errorf("job %s: list files: %w", job.Name, err)
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return etl.Run{}, fmt.Errorf("job %s: split: %w", job.Name, err)
	}
	attempts := o.retries(job.Name) + 1 + partitionRescues
	started := clock.Now()
	runID, parts, err := o.Store.BeginSplitRun(ctx, job.Name, trigger, started, func(ctx context.Context, tx pgx.Tx, runID int64) (int, error) {
		claimed, err := o.Store.ClaimFiles(ctx, tx, job.Name, runID, files, started)
		if err != nil {
			return 0, err
		}
		released, err := o.Store.TakeReleased(ctx, tx, job.Name, claimed)
		if err != nil {
			return 0, err
		}
		groups := GroupClaims(claimed, released, cmpOr(o.MaxBytes, DefaultPartitionBytes))
		args := make([]PartitionArgs, 0, len(groups))
		for i, g := range groups {
			list := make([]pgstore.PartitionFile, len(g.Files))
			names := make([]string, len(g.Files))
			for k, f := range g.Files {
				list[k] = pgstore.PartitionFile{Path: f.Path, SHA256: f.SHA256, Size: f.Size}
				names[k] = f.Path
			}
			id, err := o.Store.AddPartition(ctx, tx, job.Name, runID, i+1, list, g.Resumes, started)
			if err != nil {
				return 0, err
			}
			if g.Resumes != 0 {
				log.Info("partition continues the load of a failed partition", "run", runID, "partition", i+1, "resumes", g.Resumes, "files", len(g.Files))
			}
			args = append(args, PartitionArgs{Job: job.Name, Run: runID, Partition: id, Number: i + 1, Files: names})
		}
		return insertPartitions(ctx, tx, client, args, attempts, complete)
	})
	if err != nil {
		return etl.Run{}, err
	}
	log.Info("run split into partitions", "run", runID, "files", len(files), "partitions", parts)
	return splitRun(job.Name, trigger, runID, parts, started), nil
}

// beginPlan takes the job's lease for a plan, which the caller releases,
// and records failed the job's partitions River gave up on. The lease
// orders plans of one job (a tick and a retry of an earlier one); its
// partitions take leases of their own. Lost partitions give their files
// or ranges back first, so that this plan takes them up again.
func (o *PartitionOptions) beginPlan(ctx context.Context, job string) error {
	if err := o.Store.AcquireLease(ctx, job, o.Owner, time.Minute, etl.SystemClockOr(o.Clock).Now()); err != nil {
		return err
	}
	if _, err := o.sweepLost(ctx, job); err != nil {
		o.Store.ReleaseLease(context.WithoutCancel(ctx), job, o.Owner)
		return err
	}
	return nil
}

// insertPartitions inserts the River jobs of a plan's partitions and
// completes its tick, in tx, and returns how many it inserted.
func insertPartitions(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], args []PartitionArgs, attempts int, complete func(context.Context, pgx.Tx) error) (int, error) {
	if len(args) > 0 {
		params := make([]river.InsertManyParams, len(args))
		for i, a := range args {
			params[i] = river.InsertManyParams{Args: a, InsertOpts: &river.InsertOpts{MaxAttempts: attempts}}
		}
		if _, err := client.InsertManyTx(ctx, tx, params); err != nil {
			return 0, fmt.Errorf("insert partitions: %w", err)
		}
	}
	if err := complete(ctx, tx); err != nil {
		return 0, err
	}
	return len(args), nil
}

// splitRun is the record of a run split into parts partitions: running,
// or succeeded at once when it has none.
func splitRun(job, trigger string, runID int64, parts int, started time.Time) etl.Run {
	status := etl.RunRunning
	if parts == 0 {
		status = etl.RunSucceeded
	}
	return etl.Run{ID: runID, Job: job, Trigger: trigger, Status: status, StartedAt: started}
}

func (o *PartitionOptions) retries(job string) int {
	if o.Retries == nil {
		return 0
	}
	return o.Retries(job)
}

func (o *PartitionOptions) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Group splits files, in their order, into partitions: a file of maxBytes
// or more is one partition; smaller ones are grouped while the group stays
// within maxBytes.
func Group(files []etl.FileDone, maxBytes int64) [][]etl.FileDone {
	var out [][]etl.FileDone
	var cur []etl.FileDone
	var size int64
	for _, f := range files {
		if len(cur) > 0 && size+f.Size > maxBytes {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, f)
		size += f.Size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// PlannedPartition is a partition as a run plans it: its files, and the
// failed partition whose load it continues (0 for a new load).
type PlannedPartition struct {
	Files   []etl.FileDone
	Resumes int64
}

// GroupClaims splits the files a run claimed into partitions. The files a
// failed partition gave back (released: its id by content) are one
// partition that continues its load, whatever their size: its checkpoint
// names the file it was reading and how far, and only a partition that
// holds that file, and no file of another load, can continue it. The other
// files are grouped as Group does. Partitions continuing a load come
// first, in the order their first file was claimed.
func GroupClaims(files []etl.FileDone, released map[string]int64, maxBytes int64) []PlannedPartition {
	var out []PlannedPartition
	at := make(map[int64]int) // failed partition → its place in out
	var fresh []etl.FileDone
	for _, f := range files {
		p, ok := released[f.SHA256]
		if !ok {
			fresh = append(fresh, f)
			continue
		}
		i, seen := at[p]
		if !seen {
			i = len(out)
			at[p] = i
			out = append(out, PlannedPartition{Resumes: p})
		}
		out[i].Files = append(out[i].Files, f)
	}
	for _, g := range Group(fresh, maxBytes) {
		out = append(out, PlannedPartition{Files: g})
	}
	return out
}

type partitionWorker struct {
	river.WorkerDefaults[PartitionArgs]
	o *PartitionOptions
}

// Work runs one partition. Its run resumes from the partition's last
// checkpoint (a worker that died, or was stopped, mid-way); when the run
// succeeds, the partition is recorded done and its River job completed in
// the transaction that ends the run, and the last partition of a run ends
// the run.
func (w *partitionWorker) Work(ctx context.Context, j *river.Job[PartitionArgs]) error {
	a := j.Args
	log := w.o.logger().With("job", a.Job, "run", a.Run, "partition", a.Number)
	job, err := w.o.Build(a.Job)
	if err != nil {
		return w.fail(ctx, j, etl.Permanent(err))
	}
	if a.Range != nil {
		src, ok := job.Source.(RangeSplitter)
		if !ok || src.PartitionRows() <= 0 {
			return w.fail(ctx, j, etl.Permanent(fmt.Errorf("job %s: its source is no longer a SQL table with partition_rows: cannot load partition %d, keys (%s, %s]", a.Job, a.Number, a.Range.Lo, a.Range.Hi)))
		}
		src.OnlyRange(*a.Range, a.From)
	} else {
		src, ok := job.Source.(Splitter)
		if !ok {
			return w.fail(ctx, j, etl.Permanent(fmt.Errorf("job %s: its source is no longer files: cannot load partition %d", a.Job, a.Number)))
		}
		src.Only(a.Files)
	}
	trigger := "partition"
	if j.Attempt > 1 {
		trigger = "retry"
	}
	clock := etl.SystemClockOr(w.o.Clock)
	end := func(ctx context.Context, tx pgx.Tx) error {
		if _, err := w.o.Store.FinishPartition(ctx, tx, a.Partition, pgstore.PartitionDone, "", clock.Now()); err != nil {
			return err
		}
		_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, j)
		return err
	}
	run, err := w.o.Run(ctx, job, etl.RunOptions{Trigger: trigger, Partition: strconv.FormatInt(a.Partition, 10)}, end)
	switch {
	case errors.Is(err, etl.ErrLeaseHeld):
		// A run of it still goes on elsewhere (River rescued it from a
		// worker that seemed dead): wait for it, without an attempt.
		log.Info("partition is running in another worker: trying again later")
		return river.JobSnooze(cmpOr(w.o.LeaseAfter, time.Minute))
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		// The worker is stopping: another takes the partition up at once,
		// from its last checkpoint; this is no failed attempt.
		log.Info("partition stopped with the worker; it resumes elsewhere", "run_of_partition", run.ID)
		return river.JobSnooze(0)
	case err != nil:
		return w.fail(ctx, j, err)
	}
	log.Info("partition finished", "run_of_partition", run.ID, "read", run.Read, "written", run.Written, "skipped", run.Skipped)
	return nil
}

// fail returns err for River to retry the partition, or, for a permanent
// error or once its runs have failed more than its job's retries, records
// it failed (ending its run when it was the last) and cancels it.
func (w *partitionWorker) fail(ctx context.Context, j *river.Job[PartitionArgs], err error) error {
	failures := 1
	for _, e := range j.Errors {
		if !strings.Contains(e.Error, "rescued") {
			failures++
		}
	}
	if !etl.IsPermanent(err) && failures <= w.o.retries(j.Args.Job) && j.Attempt < j.MaxAttempts {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	tx, terr := w.o.Store.Pool().Begin(ctx)
	if terr != nil {
		return errors.Join(err, terr)
	}
	defer tx.Rollback(ctx)
	if _, terr := w.o.Store.FinishPartition(ctx, tx, j.Args.Partition, pgstore.PartitionFailed, err.Error(), etl.SystemClockOr(w.o.Clock).Now()); terr != nil {
		return errors.Join(err, terr)
	}
	if terr := tx.Commit(ctx); terr != nil {
		return errors.Join(err, terr)
	}
	return river.JobCancel(err)
}

// NextRetry retries a failed partition soon: it resumes from its last
// checkpoint, so a retry costs only what was not recorded.
func (w *partitionWorker) NextRetry(j *river.Job[PartitionArgs]) time.Time {
	return etl.SystemClockOr(w.o.Clock).Now().Add(time.Duration(min(j.Attempt, 30)) * time.Second)
}

// Timeout is the rescue time: River's rescuer takes up a job running for
// longer than both its timeout and the client's rescue time (a job without
// a timeout never), and a partition whose worker died must be taken up.
// So a partition runs for that long at most; a run cut short resumes from
// its last checkpoint at its next attempt.
func (w *partitionWorker) Timeout(*river.Job[PartitionArgs]) time.Duration {
	return cmpOr(w.o.LeaseAfter, time.Minute)
}

// lostPartition is a queued partition whose River job is finished without
// the partition recorded finished.
type lostPartition struct {
	id     int64
	job    string
	run    int64
	number int
	state  string // River's: discarded, cancelled, or "deleted"
	err    string // River's last recorded error of it
}

// sweepLost records failed the queued partitions of job ("" for every job)
// that River gave up on without their worker recording it, and returns how
// many: discarded by River's rescuer after their last attempt (their worker
// died at every attempt), discarded after an attempt whose failure could
// not be recorded (the state store did not answer), cancelled from outside
// (River's client or UI), or finished and since deleted by River's
// cleaner. A partition and its River job are inserted in one transaction,
// so a queued partition without its River job lost it that way. Each ends
// as the worker's own failure does (FinishPartition): its files' claims are
// given back and the last one ends its run, failed, with the counters of
// what its partitions loaded. One whose lease is still held (its worker
// paused past River's rescue, and running it still) is left to that worker.
func (o *PartitionOptions) sweepLost(ctx context.Context, job string) (int, error) {
	clock := etl.SystemClockOr(o.Clock)
	rows, err := o.Store.Pool().Query(ctx, `SELECT "p"."id", "p"."job", "p"."run_id", "p"."number",
	COALESCE("j"."state"::text, 'deleted'), COALESCE("j"."errors"[cardinality("j"."errors")]->>'error', '')
FROM "partitions" AS "p"
LEFT JOIN "river_job" AS "j" ON "j"."kind" = $1 AND "j"."args" @> jsonb_build_object('partition', "p"."id")
WHERE "p"."status" = $2 AND ($3 = '' OR "p"."job" = $3) AND ("j"."id" IS NULL OR "j"."state" IN ('discarded', 'cancelled'))
ORDER BY "p"."id"`, PartitionArgs{}.Kind(), pgstore.PartitionQueued, job)
	if err != nil {
		return 0, fmt.Errorf("look for partitions River gave up on: %w", err)
	}
	lost, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lostPartition, error) {
		var p lostPartition
		err := r.Scan(&p.id, &p.job, &p.run, &p.number, &p.state, &p.err)
		return p, err
	})
	if err != nil {
		return 0, fmt.Errorf("look for partitions River gave up on: %w", err)
	}
	n := 0
	for _, p := range lost {
		now := clock.Now()
		owner, until, held, err := o.Store.LeaseHolder(ctx, p.job+"#"+strconv.FormatInt(p.id, 10))
		if err != nil {
			return n, err
		}
		if held && until.After(now) {
			o.logger().Info("partition River gave up on still runs: left to its worker", "job", p.job, "run", p.run, "partition", p.number, "owner", owner)
			continue
		}
		why := "River " + p.state + " its job"
		if p.err != "" {
			why += ": " + p.err
		}
		tx, err := o.Store.Pool().Begin(ctx)
		if err != nil {
			return n, fmt.Errorf("partition %d of run %d: %w", p.number, p.run, err)
		}
		ended, err := o.Store.FinishPartition(ctx, tx, p.id, pgstore.PartitionFailed, why, now)
		if err == nil {
			err = tx.Commit(ctx)
		}
		tx.Rollback(context.WithoutCancel(ctx))
		if err != nil {
			return n, fmt.Errorf("job %s: partition %d of run %d: record it failed: %w", p.job, p.number, p.run, err)
		}
		n++
		o.logger().Warn("partition recorded failed: River gave up on it", "job", p.job, "run", p.run, "partition", p.number, "river", p.state, "run_ended", ended)
	}
	return n, nil
}

// sweep runs sweepLost for every job every SweepEvery until ctx ends.
func (o *PartitionOptions) sweep(ctx context.Context) {
	every := cmpOr(o.SweepEvery, min(cmpOr(o.LeaseAfter, time.Minute), 30*time.Second))
	for {
		if etl.Sleep(ctx, etl.SystemClockOr(o.Clock), every) != nil {
			return
		}
		if _, err := o.sweepLost(ctx, ""); err != nil && ctx.Err() == nil {
			o.logger().Error("look for partitions River gave up on", "err", err)
		}
	}
}
