package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) testCommand() *cobra.Command {
	var job string
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the config's step tests (tests: lists and *.test.yaml files): input rows → expected rows and rejects",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.load()
			if err != nil {
				return err
			}
			tests, err := cfg.StepTests()
			if err != nil {
				fmt.Fprintln(a.stderr, a.redact(err.Error()))
				return &exitError{code: exitUsage, err: fmt.Errorf("%s: step tests do not load", a.configPath)}
			}
			passed, failed := 0, 0
			for _, t := range tests {
				if job != "" && t.Job != job {
					continue
				}
				res, err := cfg.RunStepTest(cmd.Context(), t)
				if err != nil {
					return &exitError{code: exitFailed, err: err}
				}
				if res.Passed() {
					passed++
					fmt.Fprintf(a.stdout, "ok    %s: %s\n", t.Job, t.Name)
					continue
				}
				failed++
				fmt.Fprintf(a.stdout, "FAIL  %s: %s (%s:%d)\n", t.Job, t.Name, t.File, t.Line)
				for _, p := range res.Problems {
					fmt.Fprintf(a.stdout, "        %s\n", a.redact(p))
				}
			}
			fmt.Fprintf(a.stdout, "%d passed, %d failed\n", passed, failed)
			if passed+failed == 0 {
				fmt.Fprintln(a.stdout, "no step tests found (add tests: to a job, or a *.test.yaml file beside the config)")
			}
			if failed > 0 {
				return &exitError{code: exitFailed}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&job, "job", "", "run only this job's tests")
	return cmd
}
