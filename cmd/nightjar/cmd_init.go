package main

import (
	"bytes"
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
			fmt.Fprintf(a.stdout, "wrote %d files to %s\n", n, dir)
			a.printNextSteps(filepath.Join(dir, "nightjar.yaml"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}

// printNextSteps prints the commands to try on a new project whose config
// is cfg, each runnable as pasted from the current folder.
func (a *app) printNextSteps(cfg string) {
	a.configPath = cfg
	fmt.Fprintf(a.stdout, "next, from this folder:\n")
	for _, c := range [][]string{
		{"validate"},
		{"run", "--all"},
		{"quarantine", "list", "leads"},
		{"history"},
		{"preview", "chat_leads", "--step", "4", "--limit", "5"},
		{"test"},
	} {
		fmt.Fprintf(a.stdout, "  %s\n", a.command(c...))
	}
	fmt.Fprintf(a.stdout, "Edit %s to point the jobs at your own files; %s checks it.\n", cfg, a.command("validate"))
}

// Lines of the example's header comment that init replaces: they tell how
// to run the example from the repository; a project is run from its folder.
const (
	exampleRunHeader = "# Run it from the repository root:\n"
	projectRunHeader = `# Run it from this folder (from elsewhere, add -c path/to/nightjar.yaml):
#   nightjar run --all
# Look at what each step does:    nightjar preview chat_leads
# Run the step tests below:       nightjar test
# See the rows set aside:         nightjar quarantine list leads
`
)

// projectConfig turns the example's nightjar.yaml into a new project's:
// the repository's run instructions (from exampleRunHeader to the next
// blank comment line) become the project's.
func projectConfig(example []byte) []byte {
	start := bytes.Index(example, []byte(exampleRunHeader))
	if start < 0 {
		return example
	}
	end := bytes.Index(example[start:], []byte("#\n"))
	if end < 0 {
		return example
	}
	out := append([]byte{}, example[:start]...)
	out = append(out, projectRunHeader...)
	return append(out, example[start+end:]...)
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
		if p == "nightjar.yaml" {
			data = projectConfig(data)
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
