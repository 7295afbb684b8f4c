package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/jobs/config"
)

func (a *app) validateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the config: every problem with its file:line:col",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.load()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: ok, %d job(s): %s\n", a.configPath, len(cfg.Jobs), joinNames(cfg.JobNames()))
			return nil
		},
	}
}

func (a *app) runCommand() *cobra.Command {
	var (
		all, dryRun, fullRefresh, strict bool
		watch                            bool
		limit                            int64
		grace                            time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run JOB... | --all",
		Short: "Run jobs now",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.load()
			if err != nil {
				return err
			}
			names, err := a.jobArgs(cfg, args, all)
			if err != nil {
				return err
			}
			ctx, stop, release := a.interruptible(cmd.Context(), grace)
			defer release()
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			runner := &etl.Runner{Store: st, Clock: a.clock, Logger: a.logger, Owner: owner(), OwnerGone: ownerGone}
			if watch {
				return a.watchJobs(ctx, runner, names, etl.RunOptions{DryRun: dryRun, FullRefresh: fullRefresh, Limit: limit}, strict, stop)
			}
			failed, rejected := 0, int64(0)
			interrupted := false
			for _, name := range names {
				if interrupted = isClosed(stop); interrupted {
					break
				}
				run, err := a.runJob(ctx, runner, name, etl.RunOptions{
					Trigger: "cli", DryRun: dryRun, FullRefresh: fullRefresh, Limit: limit, Stop: stop,
				})
				rejected += run.Rejected
				if errors.Is(err, etl.ErrStopped) {
					interrupted = true
					fmt.Fprintf(a.stderr, "%s: stopped; the next run goes on from where it stopped\n", name)
					break
				}
				if err != nil {
					failed++
					fmt.Fprintf(a.stderr, "%s: failed: %s\n", name, a.redact(err.Error()))
				}
			}
			switch {
			case failed > 0:
				return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d job(s) failed", failed, len(names))}
			case interrupted:
				return &exitError{code: exitFailed, err: errors.New("interrupted")}
			case strict && rejected > 0:
				return &exitError{code: exitRejected, err: fmt.Errorf("%d row(s) quarantined (--strict)", rejected)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "run every job")
	f.BoolVar(&dryRun, "dry-run", false, "read and transform, write nothing, record no position")
	f.BoolVar(&fullRefresh, "full-refresh", false, "ignore positions and the file ledger: load everything again")
	f.Int64Var(&limit, "limit", 0, "stop after N source rows (0: no limit)")
	f.BoolVar(&strict, "strict", false, "exit 3 when rows were quarantined")
	f.BoolVar(&watch, "watch", false, "after the run, run again whenever settled new files land in the jobs' folders, until interrupted (--full-refresh applies to the first run)")
	f.DurationVar(&grace, "grace", 30*time.Second, "after SIGINT/SIGTERM, how long to let the batches in flight finish")
	return cmd
}

// runJob builds and runs one job, with a progress bar on a terminal, and
// prints its summary.
func (a *app) runJob(ctx context.Context, runner *etl.Runner, name string, opts etl.RunOptions) (etl.Run, error) {
	job, err := a.cfg.Build(name, a.logger, a.clock)
	if err != nil {
		return etl.Run{}, err
	}
	var bar *progressbar.ProgressBar
	if isTerminal(a.stderr) {
		a.stderrLines() // the bar and the logs share the line
		// No OptionShowIts: its rate, averaged from the first update,
		// reads "0 rows/hr" on short runs; progressRate says nothing until
		// there is a second of rows to measure.
		bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(a.lines.bar()),
			progressbar.OptionSetDescription(name),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		started := a.clock.Now()
		opts.Progress = func(c etl.Counters) {
			bar.Describe(fmt.Sprintf("%s %s%s", name, humanBytes(c.Bytes), progressRate(c.Read, a.clock.Now().Sub(started))))
			_ = bar.Set64(c.Read)
		}
	}
	var report *dryRunReport
	if opts.DryRun {
		report = &dryRunReport{}
		opts.DryRunReport = report.add
	}
	run, err := runner.Run(ctx, job, opts)
	if bar != nil {
		_ = bar.Finish()
	}
	if run.ID != 0 {
		dry := ""
		if opts.DryRun {
			dry = " (dry run: nothing written)"
		}
		fmt.Fprintf(a.stdout, "%s: run %d %s: read %d, written %d, rejected %d, skipped %d, %s in %s%s\n",
			name, run.ID, run.Status, run.Read, run.Written, run.Rejected, run.Skipped, humanBytes(run.Bytes),
			run.EndedAt.Sub(run.StartedAt).Round(time.Millisecond), dry)
		if run.Skipped > 0 {
			fmt.Fprintf(a.stdout, "%s: %d row(s) skipped: their batches were already loaded (a replay after an interrupted run)\n", name, run.Skipped)
		}
		if report != nil {
			report.print(a.stdout, name, a.redact)
		}
		if run.Rejected > 0 && opts.DryRun {
			fmt.Fprintf(a.stdout, "%s: %d row(s) would be quarantined\n", name, run.Rejected)
		} else if run.Rejected > 0 {
			fmt.Fprintf(a.stdout, "%s: %d row(s) quarantined; see them with: %s\n", name, run.Rejected, a.command("quarantine", "list", name))
		}
		if errors.Is(err, etl.ErrTooManyRejects) {
			fmt.Fprintf(a.stderr, "%s: too many rows rejected: see why with %s; when that many rejects are expected, "+
				"raise on_reject.max_ratio in the job (%g when unset, 0 for no limit)\n",
				name, a.command("quarantine", "list", name), config.DefaultMaxRejectRatio)
		}
	}
	return run, err
}

// dryRunReport gathers what a dry run's targets would have received and
// sent.
type dryRunReport struct {
	mu      sync.Mutex // DryRunReport may be called from the runner's stages
	targets []string   // in the order first seen
	rows    map[string]int64
	sends   map[string][]string
}

// maxDryRunSends bounds the lines shown per target.
const maxDryRunSends = 10

func (r *dryRunReport) add(target string, rows int, sends []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rows == nil {
		r.rows, r.sends = map[string]int64{}, map[string][]string{}
	}
	if _, ok := r.rows[target]; !ok {
		r.targets = append(r.targets, target)
	}
	r.rows[target] += int64(rows)
	r.sends[target] = append(r.sends[target], sends...)
}

func (r *dryRunReport) print(w io.Writer, job string, redact func(string) string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.targets) == 0 {
		fmt.Fprintf(w, "%s: would send nothing: no rows reached the targets\n", job)
		return
	}
	fmt.Fprintf(w, "%s: would send:\n", job)
	for _, t := range r.targets {
		fmt.Fprintf(w, "  %s: %d row(s)\n", t, r.rows[t])
		sends := r.sends[t]
		for i, s := range sends {
			if i == maxDryRunSends {
				fmt.Fprintf(w, "    … and %d more\n", len(sends)-maxDryRunSends)
				break
			}
			fmt.Fprintf(w, "    %s\n", redact(s))
		}
	}
}

// progressRate is ", N rows/s" once a run has gone on for a second, and
// nothing before: a rate from a fraction of a second misleads.
func progressRate(rows int64, elapsed time.Duration) string {
	if elapsed < time.Second || rows == 0 {
		return ""
	}
	return fmt.Sprintf(", %d rows/s", int64(float64(rows)/elapsed.Seconds()))
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func owner() string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid())
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ownerGone reports whether a lease owner written by owner() is a process of
// this machine that no longer exists (killed with -9, say), so its lease
// can be taken over at once. Owners on other machines are never judged.
func ownerGone(o string) bool {
	host, pidText, ok := strings.Cut(o, ":")
	me, _ := os.Hostname()
	if !ok || host != me {
		return false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}
