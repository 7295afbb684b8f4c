package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gocarina/gocsv"
	"github.com/spf13/cobra"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/internal/cluster"
	"github.com/nightjar-etl/nightjar/internal/termtext"
)

// runRow is a run as exported by `history --csv`.
type runRow struct {
	ID       int64  `csv:"id"`
	Job      string `csv:"job"`
	Trigger  string `csv:"trigger"`
	Status   string `csv:"status"`
	Started  string `csv:"started_at"`
	Ended    string `csv:"ended_at"`
	Duration string `csv:"duration"`
	Read     int64  `csv:"rows_read"`
	Written  int64  `csv:"rows_written"`
	Skipped  int64  `csv:"rows_skipped"`
	Rejected int64  `csv:"rows_rejected"`
	Bytes    int64  `csv:"bytes_read"`
	Error    string `csv:"error"`
}

// quarantineRow is a rejected row as exported by `quarantine export`.
type quarantineRow struct {
	ID     int64  `csv:"id"`
	Job    string `csv:"job"`
	RunID  int64  `csv:"run_id"`
	At     string `csv:"at"`
	Step   string `csv:"step"`
	Origin string `csv:"origin"`
	Field  string `csv:"field"`
	Value  string `csv:"value"`
	Reason string `csv:"reason"`
	Row    string `csv:"row"`
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func duration(r etl.Run) string {
	if r.EndedAt.IsZero() {
		return ""
	}
	return r.EndedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
}

func (a *app) statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Each job's schedule, next run and last run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			type jobStatus struct {
				Job      string   `json:"job"`
				Schedule string   `json:"schedule,omitempty"`
				NextRun  string   `json:"next_run,omitempty"`
				LastRun  *etl.Run `json:"last_run,omitempty"`
				// Partitions count the job's partitions per worker
				// (nightjar worker, PostgreSQL state).
				Partitions []cluster.WorkerPartitions `json:"partitions,omitempty"`
			}
			var out []jobStatus
			now := a.clock.Now()
			for _, spec := range a.cfg.Jobs {
				s := jobStatus{Job: spec.Name, Schedule: spec.Schedule}
				if next, ok := spec.Next(now); ok {
					s.NextRun = formatTime(next)
				}
				runs, err := st.Runs(ctx, spec.Name, 1)
				if err != nil {
					return &exitError{code: exitFailed, err: err}
				}
				if len(runs) > 0 {
					s.LastRun = &runs[0]
				}
				if s.Partitions, err = partitionStatus(ctx, st, spec.Name); err != nil {
					return &exitError{code: exitFailed, err: err}
				}
				out = append(out, s)
			}
			if asJSON {
				return writeJSON(a.stdout, out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tSCHEDULE\tNEXT RUN\tLAST RUN\tSTATUS\tREAD\tWRITTEN\tSKIPPED\tREJECTED")
			for _, s := range out {
				last, status, read, written, skipped, rejected := "-", "never run", "", "", "", ""
				if r := s.LastRun; r != nil {
					last, status = formatTime(r.StartedAt), string(r.Status)
					read, written, skipped, rejected = fmt.Sprint(r.Read), fmt.Sprint(r.Written), fmt.Sprint(r.Skipped), fmt.Sprint(r.Rejected)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Job, dash(s.Schedule), dash(s.NextRun), last, status, read, written, skipped, rejected)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			header := false
			for _, s := range out {
				if len(s.Partitions) > 0 && !header {
					fmt.Fprintln(tw, "\nJOB\tWORKER\tPARTITIONS QUEUED\tRUNNING\tRETRIED\tDONE\tFAILED")
					header = true
				}
				printPartitionStatus(tw, s.Job, s.Partitions)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) historyCommand() *cobra.Command {
	var (
		asJSON, asCSV bool
		limit         int
	)
	cmd := &cobra.Command{
		Use:   "history [JOB]",
		Short: "The last runs, newest first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			job := ""
			if len(args) == 1 {
				if _, err := a.jobArgs(a.cfg, args, false); err != nil {
					return err
				}
				job = args[0]
			}
			runs, err := st.Runs(ctx, job, limit)
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			switch {
			case asJSON:
				hr, err := withPartitions(ctx, st, runs)
				if err != nil {
					return &exitError{code: exitFailed, err: err}
				}
				return writeJSON(a.stdout, hr)
			case asCSV:
				rows := make([]runRow, len(runs))
				for i, r := range runs {
					rows[i] = runRow{
						ID: r.ID, Job: r.Job, Trigger: r.Trigger, Status: string(r.Status),
						Started: formatTime(r.StartedAt), Ended: formatTime(r.EndedAt), Duration: duration(r),
						Read: r.Read, Written: r.Written, Skipped: r.Skipped, Rejected: r.Rejected, Bytes: r.Bytes, Error: a.redact(r.Error),
					}
				}
				return gocsv.Marshal(rows, a.stdout)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tJOB\tTRIGGER\tSTATUS\tSTARTED\tDURATION\tREAD\tWRITTEN\tSKIPPED\tREJECTED\tERROR")
			hr, err := withPartitions(ctx, st, runs)
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			for _, r := range hr {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Job, r.Trigger, r.Status,
					formatTime(r.StartedAt), dash(duration(r.Run)), r.Read, r.Written, r.Skipped, r.Rejected, oneLine(a.redact(r.Error), 80))
				a.printPartitions(tw, r.Partitions)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&asCSV, "csv", false, "print CSV")
	f.IntVar(&limit, "limit", 20, "number of runs")
	cmd.MarkFlagsMutuallyExclusive("json", "csv")
	return cmd
}

// oneLine is s as one cell of a terminal table: line breaks and tabs as
// spaces, what could drive or reorder the terminal escaped (termtext), at
// most max characters.
func oneLine(s string, max int) string {
	var b strings.Builder
	n := 0
	termtext.Each(s, func(shown string, r rune, end int) bool {
		if n == max-1 && end < len(s) {
			b.WriteString("…")
			return false
		}
		if r == '\n' || r == '\r' || r == '\t' {
			shown = " "
		}
		b.WriteString(shown)
		n++
		return true
	})
	return b.String()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) stateCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "state", Short: "Inspect or reset a job's positions and file ledger"}
	show := &cobra.Command{
		Use:   "show JOB",
		Short: "Positions and file ledger of a job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := a.jobStore(ctx, args)
			if err != nil {
				return err
			}
			defer st.Close()
			cps, err := st.Checkpoints(ctx, args[0])
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			files, err := st.Files(ctx, args[0])
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			return writeJSON(a.stdout, map[string]any{"job": args[0], "positions": cps, "files": files})
		},
	}
	var yes bool
	reset := &cobra.Command{
		Use:   "reset JOB",
		Short: "Forget a job's positions and file ledger: the next run loads everything again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usageErr("state reset %s makes the next run load everything again; to confirm: %s",
					args[0], a.command("state", "reset", args[0], "--yes"))
			}
			ctx := cmd.Context()
			st, err := a.jobStore(ctx, args)
			if err != nil {
				return err
			}
			defer st.Close()
			report, err := st.Reset(ctx, args[0])
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			printReset(a.stdout, args[0], report)
			return nil
		},
	}
	reset.Flags().BoolVar(&yes, "yes", false, "confirm the reset")
	cmd.AddCommand(show, reset)
	return cmd
}

// printReset says what a state reset cleared and what the next run does.
func printReset(w io.Writer, job string, r etl.ResetReport) {
	if len(r.Checkpoints) == 0 && r.Files == 0 && r.Fingerprints == 0 {
		fmt.Fprintf(w, "%s: no state to reset (no position, no file in the ledger)\n", job)
		return
	}
	fmt.Fprintf(w, "%s: state reset:\n", job)
	for _, cp := range r.Checkpoints {
		if cp.Position == nil {
			fmt.Fprintf(w, "  position: none yet (a load begun by run %d)\n", cp.RunID)
			continue
		}
		fmt.Fprintf(w, "  position after batch %d (run %d, %s) forgotten\n", cp.Seq, cp.RunID, formatTime(cp.UpdatedAt))
	}
	fmt.Fprintf(w, "  %d file(s) removed from the file ledger\n", r.Files)
	if r.Fingerprints > 0 {
		fmt.Fprintf(w, "  %d record fingerprint(s) forgotten (every record is sent again)\n", r.Fingerprints)
	}
	fmt.Fprintf(w, "The next run starts a new load and reads everything again: append tables receive every row again\n"+
		"(drop or truncate them first if they should not), merge tables update in place, replace tables are rebuilt.\n"+
		"Runs and quarantined rows are history and are kept.\n")
}

func (a *app) quarantineCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "quarantine", Short: "Rejected rows with their reasons"}
	var limit int
	list := &cobra.Command{
		Use:   "list JOB",
		Short: "List a job's quarantined rows, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			recs, err := a.quarantined(cmd, args, limit)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				fmt.Fprintf(a.stdout, "%s: no quarantined rows\n", args[0])
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tRUN\tORIGIN\tSTEP\tFIELD\tVALUE\tREASON")
			for _, q := range recs {
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", q.ID, q.RunID, oneLine(q.Origin, 60), q.Step, dash(oneLine(q.Field, 40)),
					oneLine(q.Value, 40), oneLine(q.Reason, 100))
			}
			return tw.Flush()
		},
	}
	list.Flags().IntVar(&limit, "limit", 50, "number of rows (0: all)")
	var format, output string
	export := &cobra.Command{
		Use:   "export JOB",
		Short: "Export a job's quarantined rows as CSV or JSONL",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			recs, err := a.quarantined(cmd, args, 0)
			if err != nil {
				return err
			}
			w := a.stdout
			var file *os.File
			if output != "" && output != "-" {
				if file, err = os.Create(output); err != nil {
					return &exitError{code: exitFailed, err: err}
				}
				defer file.Close() // after an error; the success path closes it below
				w = file
			}
			switch format {
			case "csv":
				rows := make([]quarantineRow, len(recs))
				for i, q := range recs {
					rows[i] = quarantineRow{ID: q.ID, Job: q.Job, RunID: q.RunID, At: formatTime(q.At), Step: q.Step,
						Origin: q.Origin, Field: q.Field, Value: q.Value, Reason: q.Reason, Row: q.RowJSON}
				}
				if err := gocsv.Marshal(rows, w); err != nil {
					return &exitError{code: exitFailed, err: err}
				}
			case "jsonl":
				enc := json.NewEncoder(w)
				for _, q := range recs {
					if err := enc.Encode(q); err != nil {
						return &exitError{code: exitFailed, err: err}
					}
				}
			default:
				return usageErr("--format %q: want csv or jsonl", format)
			}
			if file != nil {
				if err := file.Close(); err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("write %s: %w", output, err)}
				}
			}
			return nil
		},
	}
	export.Flags().StringVar(&format, "format", "csv", "csv or jsonl")
	export.Flags().StringVarP(&output, "output", "o", "-", "output file (- for stdout)")
	cmd.AddCommand(list, export)
	return cmd
}

func (a *app) quarantined(cmd *cobra.Command, args []string, limit int) ([]etl.QuarantineRecord, error) {
	ctx := cmd.Context()
	st, err := a.jobStore(ctx, args)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	recs, err := st.Quarantined(ctx, args[0], limit)
	if err != nil {
		return nil, &exitError{code: exitFailed, err: err}
	}
	return recs, nil
}

// jobStore checks that args names a job of the config and opens the state
// store.
func (a *app) jobStore(ctx context.Context, args []string) (etl.Store, error) {
	cfg, err := a.load()
	if err != nil {
		return nil, err
	}
	if _, err := a.jobArgs(cfg, args, false); err != nil {
		return nil, err
	}
	return a.openStore(ctx)
}
