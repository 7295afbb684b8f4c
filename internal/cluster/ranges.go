package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
)

// errNotSplit rolls back a plan whose source cannot be split.
var errNotSplit = errors.New("source is not split into key ranges")

// planRanges begins a run of job, whose source is a SQL table with
// partition_rows, split into key ranges: each range a partition recorded
// in the state store with its River job, in one transaction with the
// tick's completion. A job whose source cannot be split (a query, a
// lookback, SQLite) runs whole through launch.
//
// The job's position moves only when every range handed out since it last
// moved is done (pgstore.FinishPartition). Until then a tick splits
// nothing new: it plans again the ranges whose partition failed, each
// continuing the failed partition's load from its checkpoint, and plans
// nothing while ranges are still queued. So a range that fails for good
// holds the job's position, and rows past the highest range wait for the
// tick after it loads.
func (o *PartitionOptions) planRanges(ctx context.Context, job *etl.Job, src RangeSplitter, trigger string, complete func(context.Context, pgx.Tx) error, launch Launch) (etl.Run, error) {
	clock := etl.SystemClockOr(o.Clock)
	log := o.logger().With("job", job.Name)
	if err := o.beginPlan(ctx, job.Name); err != nil {
		return etl.Run{}, err
	}
	defer o.Store.ReleaseLease(context.WithoutCancel(ctx), job.Name, o.Owner)
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return etl.Run{}, fmt.Errorf("job %s: split: %w", job.Name, err)
	}
	attempts := o.retries(job.Name) + 1 + partitionRescues
	started := clock.Now()
	var whyNot string
	runID, parts, err := o.Store.BeginSplitRun(ctx, job.Name, trigger, started, func(ctx context.Context, tx pgx.Tx, runID int64) (int, error) {
		args, why, err := rangePlan(ctx, tx, o.Store, job, src, runID, clock, log)
		if err != nil {
			return 0, err
		}
		if why != "" {
			whyNot = why
			return 0, errNotSplit // no run recorded: launch records its own
		}
		return insertPartitions(ctx, tx, client, args, attempts, complete)
	})
	if whyNot != "" && errors.Is(err, errNotSplit) {
		log.Info("source is not split into key ranges: run whole", "why", whyNot)
		return launch(ctx, job.Name, trigger, complete)
	}
	if err != nil {
		return etl.Run{}, err
	}
	log.Info("run split into key ranges", "run", runID, "partitions", parts)
	return splitRun(job.Name, trigger, runID, parts, started), nil
}

// rangePlan records, in tx of run runID of job, the partitions of its key
// ranges and returns their River jobs' args: the failed ranges again when
// there are any (nothing while ranges are queued), else the ranges past
// the job's position. why says why the source cannot be split ("" when it
// can); then nothing is recorded.
func rangePlan(ctx context.Context, tx pgx.Tx, st *pgstore.Store, job *etl.Job, src RangeSplitter, runID int64, clock etl.Clock, log *slog.Logger) (args []PartitionArgs, why string, err error) {
	at := clock.Now()
	failed, queued, position, err := st.OpenRanges(ctx, tx, job.Name)
	if err != nil {
		return nil, "", err
	}
	if len(failed) > 0 {
		for i, f := range failed {
			id, err := st.AddRangePartition(ctx, tx, job.Name, runID, i+1, f.Range, f.From, f.Partition, at)
			if err != nil {
				return nil, "", err
			}
			log.Info("partition continues the load of a failed key range", "run", runID, "partition", i+1, "resumes", f.Partition, "lo", f.Range.Lo, "hi", f.Range.Hi)
			r := f.Range
			args = append(args, PartitionArgs{Job: job.Name, Run: runID, Partition: id, Number: i + 1, Range: &r, From: f.From})
		}
		return args, "", nil
	}
	if queued > 0 {
		log.Info("key ranges of an earlier run are still loading: nothing new to split", "queued", queued)
		return nil, "", nil
	}
	ranges, why, err := src.Ranges(ctx, etl.SourceEnv{Job: job.Name, Position: position, BatchSize: job.BatchSize, Logger: log, Clock: clock})
	if err != nil || why != "" {
		return nil, why, err
	}
	for i, r := range ranges {
		id, err := st.AddRangePartition(ctx, tx, job.Name, runID, i+1, r, position, 0, at)
		if err != nil {
			return nil, "", err
		}
		args = append(args, PartitionArgs{Job: job.Name, Run: runID, Partition: id, Number: i + 1, Range: &r, From: position})
	}
	return args, "", nil
}
