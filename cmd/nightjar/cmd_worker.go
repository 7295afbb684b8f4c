package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
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
		grace   time.Duration
		workers int
		addr    string
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
last checkpoint). HTTP (--http): /healthz, /readyz and /metrics.`,
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
			id := "worker-" + owner()
			w, err := cluster.Start(ctx, pg.Pool(), pg.Schema(), cfg, launch, cluster.Options{ID: id, Workers: workers, Logger: a.logger})
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
