package files

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/internal/fsync"
)

// TargetConfig is the "file" target's config.
type TargetConfig struct {
	// Path is the output file, relative to the config file; a text/template
	// with {{ .Job }}, {{ .RunID }}, {{ .RunDate }} (YYYY-MM-DD) and
	// {{ .Partition }} (under nightjar worker, the partition of the job's
	// files the run loads; empty otherwise).
	Path string `yaml:"path" doc:"the output file, relative to the config file; a text/template with {{ .Job }}, {{ .RunID }}, {{ .RunDate }} (YYYY-MM-DD) and {{ .Partition }} (under nightjar worker, the partition of the job's files the run loads; empty otherwise)"`
	// Format is csv, jsonl, json, xlsx or parquet; by default it follows
	// Path's extension.
	Format string `yaml:"format" doc:"csv, jsonl, json, xlsx or parquet; by default it follows the path's extension"`
	// Compression is Parquet's codec: snappy (default), zstd or none.
	Compression string `yaml:"compression" doc:"Parquet's codec: snappy (default), zstd or none"`
	// EscapeFormulas (csv) writes text a spreadsheet would run as a
	// formula (=, +, -, @, tab or CR first, not a number) with a leading
	// apostrophe, as OWASP advises for CSV meant for spreadsheets. Off by
	// default: the file is then exactly the data. XLSX needs no escaping:
	// its text cells are never evaluated.
	EscapeFormulas bool `yaml:"escape_formulas" doc:"(csv) writes text a spreadsheet would run as a formula (=, +, -, @, tab or CR first, not a number) with a leading apostrophe, as OWASP advises for CSV meant for spreadsheets"`
	// Root is the folder the file must be written in, symbolic links
	// resolved: by default the config's folder, as for the files source
	// (an absolute Path is taken as the choice of its folder).
	Root string `yaml:"root" doc:"the folder the file must be written in, symbolic links resolved: by default the config's folder (for an absolute path, its folder)"`
}

// PathData is what a file target's path template is executed with.
type PathData struct {
	Job     string
	RunID   int64
	RunDate string // YYYY-MM-DD of the run's date
	// Partition is the partition the run loads (etl.TargetEnv.Partition):
	// runs of a job's partitions run at once on several workers, and each
	// names its own file with it.
	Partition string
}

// pathData is what env's run names its file with.
func pathData(env etl.TargetEnv) PathData {
	return PathData{Job: env.Job, RunID: env.RunID, RunDate: env.RunDate.Format(time.DateOnly), Partition: env.Partition}
}

const targetExample = `targets:
  - type: file
    path: "out/leads-{{ .RunDate }}.csv"
`

func init() {
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "file",
			Summary: "Write a CSV, JSON, JSON Lines, XLSX or Parquet file, made visible atomically (temporary file renamed) at commit.",
			Example: targetExample,
			Config:  func() any { return &TargetConfig{} },
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Target, error) {
			c, ok := cfg.(*TargetConfig)
			if !ok {
				return nil, fmt.Errorf("file: config is %T, want *files.TargetConfig", cfg)
			}
			return NewTarget(*c, env)
		},
	})
}

// Target writes rows to a temporary file beside its destination; Commit
// fsyncs it and renames it into place, so readers only ever see a complete
// file. A run that writes no row leaves an existing file untouched.
type Target struct {
	tmpl        *template.Template
	baseDir     string
	format      fileformat.Format
	compression string
	escape      bool
	root        string // absolute; "" for the config's folder

	log  *slog.Logger
	path string // destination, absolute
	rel  string // destination as users see it
	tmp  *os.File
	bw   *bufio.Writer
	enc  fileformat.Encoder
	rows int64
}

var _ etl.Target = (*Target)(nil)

// NewTarget validates cfg and returns the target; it does no I/O.
func NewTarget(cfg TargetConfig, env etl.BuildEnv) (*Target, error) {
	if cfg.Path == "" {
		return nil, &etl.FieldError{Path: []string{"path"}, Err: errors.New(`required: a file name such as "out/leads-{{ .RunDate }}.csv"`)}
	}
	tmpl, err := template.New("path").Option("missingkey=error").Parse(cfg.Path)
	if err != nil {
		return nil, &etl.FieldError{Path: []string{"path"}, Err: fmt.Errorf("bad template: %w", err)}
	}
	sample, err := renderPath(tmpl, PathData{Job: "job", RunID: 1, RunDate: "2006-01-02", Partition: "1"})
	if err != nil {
		return nil, &etl.FieldError{Path: []string{"path"}, Err: fmt.Errorf("%w (available: {{ .Job }}, {{ .RunID }}, {{ .RunDate }}, {{ .Partition }})", err)}
	}
	format, err := fileformat.Resolve(cfg.Format, sample)
	if err != nil {
		key := "format"
		if cfg.Format == "" {
			key = "path"
		}
		return nil, &etl.FieldError{Path: []string{key}, Err: err}
	}
	if format.NewEncoder == nil {
		return nil, &etl.FieldError{Path: []string{"format"}, Err: fmt.Errorf("format %q cannot be written", format.Name)}
	}
	switch {
	case cfg.Compression == "":
	case format.Name != "parquet":
		return nil, &etl.FieldError{Path: []string{"compression"}, Err: fmt.Errorf("only parquet output is compressed, not %s", format.Name)}
	case cfg.Compression != "snappy" && cfg.Compression != "zstd" && cfg.Compression != "none":
		return nil, &etl.FieldError{Path: []string{"compression"}, Err: fmt.Errorf("unknown compression %q (use snappy, zstd or none)", cfg.Compression)}
	}
	if cfg.EscapeFormulas && format.Name != "csv" {
		return nil, &etl.FieldError{Path: []string{"escape_formulas"}, Err: fmt.Errorf("only csv output is escaped, not %s (xlsx text cells are never evaluated)", format.Name)}
	}
	t := &Target{tmpl: tmpl, baseDir: env.BaseDir, format: format, compression: cfg.Compression, escape: cfg.EscapeFormulas}
	if cfg.Root != "" {
		t.root = t.abs(cfg.Root)
	}
	if err := t.confined(sample); err != nil {
		return nil, &etl.FieldError{Path: []string{"path"}, Err: err}
	}
	return t, nil
}

// abs is p relative to the config's folder.
func (t *Target) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(t.baseDir, p)
}

// confined reports an error wrapping ErrOutsideRoot when name, a path as
// written (expanded), leads outside the target's root, through ".." or,
// once its folder exists, a symbolic link.
func (t *Target) confined(name string) error {
	root := t.root
	if root == "" {
		if filepath.IsAbs(name) {
			return nil
		}
		root = t.abs(".")
	}
	path := t.abs(name)
	if !within(root, path) {
		return fmt.Errorf("%s leads %w %s (set root to allow it)", name, ErrOutsideRoot, root)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil // no root folder yet: nothing in it can be a link
	}
	if realDir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil && !within(realRoot, realDir) {
		return fmt.Errorf("%s resolves to %s, %w %s: refused", name, filepath.Join(realDir, filepath.Base(path)), ErrOutsideRoot, realRoot)
	}
	return nil
}

func renderPath(tmpl *template.Template, data PathData) (string, error) {
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", err
	}
	if b.Len() == 0 {
		return "", errors.New("path is empty once expanded")
	}
	return b.String(), nil
}

// Open expands the path, creates its directory and the temporary file.
func (t *Target) Open(ctx context.Context, env etl.TargetEnv) error {
	t.log = env.Logger
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	name, err := renderPath(t.tmpl, pathData(env))
	if err != nil {
		return fmt.Errorf("file: path: %w", err)
	}
	t.rel = filepath.ToSlash(name)
	if err := t.confined(name); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	name = t.abs(name)
	t.path = name
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	if err := t.confined(t.rel); err != nil { // a link made meanwhile
		return fmt.Errorf("file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	t.tmp, t.rows = tmp, 0
	t.bw = bufio.NewWriterSize(tmp, 1<<20)
	t.enc = t.format.NewEncoder(t.bw, fileformat.EncodeOptions{File: t.rel, Compression: t.compression, EscapeFormulas: t.escape})
	return nil
}

var _ etl.DryRunner = (*Target)(nil)

// DryRun names the file the batch would go to, with its row count.
func (t *Target) DryRun(_ context.Context, env etl.TargetEnv, b *etl.Batch) ([]string, error) {
	name, err := renderPath(t.tmpl, pathData(env))
	if err != nil {
		return nil, fmt.Errorf("file: path: %w", err)
	}
	return []string{fmt.Sprintf("write %d row(s) to %s (%s, replaced at the end of the run)", b.Len(), filepath.ToSlash(name), t.format.Name)}, nil
}

// Write appends the batch's rows to the temporary file.
func (t *Target) Write(ctx context.Context, b *etl.Batch) error {
	if t.tmp == nil {
		return fmt.Errorf("file %s: write after commit or close", t.rel)
	}
	if err := t.enc.Write(b); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	t.rows += int64(b.Len())
	return nil
}

// Commit flushes and fsyncs the temporary file, renames it into place and
// fsyncs the directory. With no row written it removes the temporary file
// and leaves any existing output as it was.
func (t *Target) Commit(ctx context.Context) error {
	if t.tmp == nil {
		return nil
	}
	if t.rows == 0 {
		t.log.Info("no rows written; output left as it was", "file", t.rel)
		t.abandon()
		return nil
	}
	tmp := t.tmp
	if f, ok := t.enc.(fileformat.Finisher); ok {
		if err := f.Finish(); err != nil {
			return fmt.Errorf("file: finish %s: %w", t.rel, err)
		}
	}
	if err := t.bw.Flush(); err != nil {
		return fmt.Errorf("file: write %s: %w", t.rel, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("file: sync %s: %w", t.rel, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("file: close %s: %w", t.rel, err)
	}
	if err := os.Rename(tmp.Name(), t.path); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	t.tmp = nil
	if err := fsync.Dir(filepath.Dir(t.path)); err != nil {
		return fmt.Errorf("file: sync directory of %s: %w", t.rel, err)
	}
	t.log.Info("file written", "file", t.rel, "rows", t.rows)
	return nil
}

// abandon closes and removes the temporary file.
func (t *Target) abandon() {
	if t.tmp == nil {
		return
	}
	t.tmp.Close()
	if err := os.Remove(t.tmp.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.log.Warn("cannot remove temporary file", "file", t.tmp.Name(), "err", err)
	}
	t.tmp = nil
}

// Close abandons uncommitted output: the temporary file is removed.
func (t *Target) Close() error {
	t.abandon()
	return nil
}

// Durability implements etl.Target: output exists only once committed.
func (t *Target) Durability() etl.Durability { return etl.DurableAtCommit }

var _ etl.Releaser = (*Target)(nil)

// ReleasesBatches implements etl.Releaser: the target keeps no batch once
// Write returns when its format's encoder does not (it has turned the rows
// into bytes, or copied them into a buffer of its own, as the Parquet
// encoder does a row group); an encoder that keeps rows keeps them.
func (t *Target) ReleasesBatches() bool {
	r, ok := t.enc.(etl.Releaser)
	return ok && r.ReleasesBatches()
}
