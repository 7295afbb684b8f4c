package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nightjar-etl/nightjar/internal/daemon"
	"github.com/nightjar-etl/nightjar/internal/ops"
	"github.com/nightjar-etl/nightjar/jobs/config"
)

func (a *app) daemonCommand() *cobra.Command {
	var (
		addr, webhook string
		grace         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run jobs on their schedules and as files land in watched folders",
		Long: `Run jobs on their cron schedules and as files land in watched folders, one
run per job at a time, with leases in the state store so that several daemons
sharing it never run one job at once. SIGTERM or SIGINT stops taking new work,
lets the batches in flight finish and checkpoint, and exits (within --grace);
SIGHUP reloads the config, keeping the old one if the new one does not
validate. HTTP: /healthz, /readyz, /metrics and a status page at /.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.load()
			if err != nil {
				return err
			}
			if webhook == "" {
				webhook = os.Getenv("NIGHTJAR_WEBHOOK_URL")
			}
			ctx, stop, release := a.interruptible(cmd.Context(), grace)
			defer release()
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			d := daemon.New(daemon.Options{
				Config: cfg, ConfigPath: a.configPath, Store: st,
				Owner: owner(), OwnerGone: ownerGone, Logger: a.logger, Webhook: webhook, Clock: a.clock,
			})

			// SIGHUP reloads the config.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-hup:
						if err := d.Reload(); err != nil {
							a.logger.Error("config not reloaded; keeping the one in force", "err", err)
							var errs config.Errors
							if errors.As(err, &errs) {
								for _, e := range errs {
									fmt.Fprintln(a.stderr, e.Error())
								}
							}
						}
					case <-ctx.Done():
						return
					case <-stop:
						return
					}
				}
			}()

			if err := a.serve(ctx, d, stop, addr); err != nil {
				if errors.Is(err, errListen) {
					return &exitError{code: exitUsage, err: err}
				}
				return &exitError{code: exitFailed, err: fmt.Errorf("daemon: runs aborted: %w", err)}
			}
			a.logger.Info("daemon stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "http", "127.0.0.1:8080", `address for /healthz, /readyz, /metrics and the status page ("" for none)`)
	f.DurationVar(&grace, "grace", 30*time.Second, "after SIGINT/SIGTERM, how long to let the batches in flight finish")
	f.StringVar(&webhook, "webhook", "", "Slack-compatible webhook told when a run fails or a job recovers (env NIGHTJAR_WEBHOOK_URL)")
	return cmd
}

// errListen marks a --http address that cannot be listened on.
var errListen = errors.New("--http")

// serve runs svc (the daemon or a River worker) until stop is closed (a
// drain) or ctx ends (interruptible ends it after --grace), serving its
// handler on addr ("" for none) meanwhile.
func (a *app) serve(ctx context.Context, svc ops.Service, stop <-chan struct{}, addr string) error {
	if addr != "" {
		shutdown, err := ops.Listen(addr, svc.Handler(), a.logger)
		if err != nil {
			return fmt.Errorf("%w %s: %w", errListen, addr, err)
		}
		defer shutdown(ctx)
	}
	return svc.Run(ctx, stop)
}
