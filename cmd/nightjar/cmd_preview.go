package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/nightjar-etl/nightjar/jobs/config"
)

// maxPreviewCell is the widest a preview cell is shown; longer text is cut.
const maxPreviewCell = 40

func (a *app) previewCommand() *cobra.Command {
	var limit, step, sample int
	cmd := &cobra.Command{
		Use:   "preview JOB",
		Short: "Show the rows after each step as tables (nothing is written)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.load()
			if err != nil {
				return err
			}
			if _, err := a.jobArgs(cfg, args, false); err != nil {
				return err
			}
			stages, err := cfg.Preview(cmd.Context(), args[0], limit, step, sample)
			for _, st := range stages {
				a.printStage(st)
			}
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "rows shown per step")
	cmd.Flags().IntVar(&step, "step", 0, "show only the rows after step N (1-based); 0 shows every step")
	cmd.Flags().IntVar(&sample, "sample", config.DefaultPreviewSample, "source rows read at most")
	return cmd
}

func (a *app) printStage(st config.PreviewStage) {
	fmt.Fprintf(a.stdout, "== %s: %d row(s)", st.Name, st.Total)
	if len(st.Rejects) > 0 {
		fmt.Fprintf(a.stdout, ", %d rejected", len(st.Rejects))
	}
	fmt.Fprintln(a.stdout)
	if len(st.Fields) > 0 {
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		head := make([]string, len(st.Fields))
		for i, f := range st.Fields {
			head[i] = f.Name + " (" + f.Type.String() + ")"
		}
		fmt.Fprintln(tw, strings.Join(head, "\t"))
		for r, row := range st.Rows {
			cells := make([]string, len(row))
			for i, v := range row {
				if st.Null[r][i] {
					cells[i] = "∅"
				} else {
					cells[i] = previewCell(a.redact(v))
				}
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		tw.Flush()
	}
	for i, r := range st.Rejects {
		if i == 5 {
			fmt.Fprintf(a.stdout, "  ... %d more rejected\n", len(st.Rejects)-5)
			break
		}
		fmt.Fprintf(a.stdout, "  rejected %s: %s\n", r.Origin, a.redact(r.Reason))
	}
	fmt.Fprintln(a.stdout)
}

// previewCell fits a value on one short line.
func previewCell(s string) string {
	s = strings.NewReplacer("\r\n", "⏎", "\n", "⏎", "\t", " ").Replace(s)
	if utf8.RuneCountInString(s) > maxPreviewCell {
		s = string([]rune(s)[:maxPreviewCell-1]) + "…"
	}
	return s
}
