package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
	"github.com/nightjar-etl/nightjar/internal/cluster"
	"github.com/nightjar-etl/nightjar/jobs/config"
)

func (a *app) workerCommand() *cobra.Command {
	var (
		grace         time.Duration
		workers       int
		addr          string
		partitionSize string
		rescueAfter   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the jobs' schedules as one of several workers sharing a PostgreSQL state store (River)",
		Long: `Run as one worker of a cluster: every machine runs "nightjar worker" with the
same config, whose state: is a PostgreSQL server. The workers are River
clients; River's elected leader inserts each scheduled time of each job once,
and any worker runs it, so a tick runs once however many workers there are
and the schedules go on when the leader dies. SIGTERM or SIGINT drains: no
new runs are taken, the runs in flight finish (within --grace); SIGKILL loses
nothing (River gives a dead worker's run to another, which resumes from the
last checkpoint). HTTP (--http): /healthz, /readyz and /metrics.

A tick of a files job does not load the files itself: it claims the settled
files in the file ledger and splits them into partitions (one file, or small
files grouped up to --partition-size), each a River job that any worker
runs, all in one transaction. A SQL table source with partition_rows is
split the same way into key ranges of about that many rows past the job's
position; the position moves past them when all of them loaded, and a
failed range is run again alone by the next tick. The run is done when its
partitions are. A partition whose worker died is taken up by another after
--partition-rescue-after, from its last checkpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.load()
			if err != nil {
				return err
			}
			if cfg.StateType != config.StatePostgres {
				return usageErr("nightjar worker needs the state in PostgreSQL (state: postgres://…); a SQLite state is one machine's: use nightjar daemon")
			}
			ctx, stop, release := a.interruptible(cmd.Context(), grace)
			defer release()
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			pg := st.(*pgstore.Store)
			launch := func(ctx context.Context, name, trigger string, complete func(context.Context, pgx.Tx) error) (etl.Run, error) {
				job, err := cfg.Build(name, a.logger, a.clock)
				if err != nil {
					return etl.Run{}, etl.Permanent(err)
				}
				runner := &etl.Runner{Store: completingStore{pg, complete}, Clock: a.clock, Logger: a.logger, Owner: owner(), OwnerGone: ownerGone}
				return runner.Run(ctx, job, etl.RunOptions{Trigger: trigger})
			}
			maxBytes, err := parseSize(partitionSize)
			if err != nil {
				return usageErr("--partition-size: %v", err)
			}
			parts := &cluster.PartitionOptions{
				Store: pg, MaxBytes: maxBytes, Owner: owner(), LeaseAfter: rescueAfter, Clock: a.clock, Logger: a.logger,
				Build: func(name string) (*etl.Job, error) { return cfg.Build(name, a.logger, a.clock) },
				Retries: func(name string) int {
					js, _ := cfg.Job(name)
					return js.Retries
				},
				Run: func(ctx context.Context, job *etl.Job, opts etl.RunOptions, end func(context.Context, pgx.Tx) error) (etl.Run, error) {
					// A partition's lease lasts as long as River lets it run
					// before rescuing it.
					runner := &etl.Runner{Store: completingStore{pg, end}, Clock: a.clock, Logger: a.logger, Owner: owner(), OwnerGone: ownerGone, LeaseTTL: rescueAfter}
					return runner.Run(ctx, job, opts)
				},
			}
			id := "worker-" + owner()
			// River rescues a job of a dead worker once its timeout (a
			// partition's: --partition-rescue-after; a tick's: its job's
			// timeout:) and then this horizon have passed: a minute, or
			// less when partitions are rescued sooner.
			w, err := cluster.Start(ctx, pg.Pool(), pg.Schema(), cfg, launch, cluster.Options{ID: id, Workers: workers, Logger: a.logger, Clock: a.clock, RescueAfter: min(rescueAfter, time.Minute), Partitions: parts})
			if err != nil {
				return &exitError{code: exitFailed, err: errors.New(cfg.Redact(err.Error()))}
			}
			a.logger.Info("worker started", "id", id, "pid", strconv.Itoa(os.Getpid()))
			if err := a.serve(ctx, w, stop, addr); err != nil {
				if errors.Is(err, errListen) {
					return &exitError{code: exitUsage, err: err}
				}
				return &exitError{code: exitFailed, err: fmt.Errorf("worker: %w", err)}
			}
			a.logger.Info("worker stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&grace, "grace", 30*time.Second, "after SIGINT/SIGTERM, how long to let the runs in flight finish")
	f.IntVar(&workers, "runs", 4, "how many runs this worker takes at once")
	f.StringVar(&addr, "http", "", `address for /healthz, /readyz and /metrics (e.g. 127.0.0.1:8081; "" for none)`)
	f.StringVar(&partitionSize, "partition-size", "64MiB", "a files job's small files are grouped into partitions up to this size (B, KiB, MiB, GiB); a larger file is a partition of its own")
	f.DurationVar(&rescueAfter, "partition-rescue-after", 10*time.Minute, "how long a partition may run: then it is cut short and resumed from its last checkpoint, on another worker when its own died (River's timeout and rescue)")
	return cmd
}

// completingStore is the PostgreSQL store whose EndRun of a succeeded run
// also completes the River job that ran it, in one transaction.
type completingStore struct {
	*pgstore.Store
	complete func(context.Context, pgx.Tx) error
}

// EndRun records the run's end; a success completes the River job with it.
func (s completingStore) EndRun(ctx context.Context, runID int64, status etl.RunStatus, counters etl.Counters, errText string, at time.Time) error {
	if status != etl.RunSucceeded {
		return s.Store.EndRun(ctx, runID, status, counters, errText, at)
	}
	return s.EndRunWith(ctx, runID, status, counters, errText, at, s.complete)
}

// parseSize reads a size in bytes, with an optional unit (B, KiB, MiB,
// GiB; K, M, G and KB, MB, GB mean the same powers of 1024).
func parseSize(s string) (int64, error) {
	text := strings.TrimSpace(s)
	num := strings.TrimRight(text, "BKMGiIbkmg ")
	unit := strings.ToUpper(strings.TrimSpace(text[len(num):]))
	mult := map[string]int64{"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
		"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || mult == 0 || n <= 0 {
		return 0, fmt.Errorf("%q is not a size such as 64MiB", s)
	}
	return n * mult, nil
}
