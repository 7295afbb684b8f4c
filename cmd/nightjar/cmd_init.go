package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nightjar-etl/nightjar/examples"
)

func (a *app) initCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a working example project (chatbot logs and leads into SQLite)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			n, err := scaffold(dir, force)
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			cfg := filepath.Join(dir, "nightjar.yaml")
			fmt.Fprintf(a.stdout, "wrote %d files to %s\nnext:\n  nightjar validate -c %s\n  nightjar run -c %s --all\n", n, dir, cfg, cfg)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}

// scaffold copies the embedded example project into dir. Existing files are
// kept unless force is set: init never silently overwrites a user's work.
func scaffold(dir string, force bool) (int, error) {
	root, err := fs.Sub(examples.Chatbot, "chatbot")
	if err != nil {
		return 0, err
	}
	var exists []string
	if !force {
		_ = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
					exists = append(exists, filepath.Join(dir, p))
				}
			}
			return nil
		})
		if len(exists) > 0 {
			return 0, fmt.Errorf("init %s: %s already exists (use --force to overwrite)", dir, exists[0])
		}
	}
	n := 0
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, p)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		n++
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		return n, fmt.Errorf("init %s: %w", dir, err)
	}
	return n, nil
}

func joinNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	s := names[0]
	for _, n := range names[1:] {
		s += ", " + n
	}
	return s
}
