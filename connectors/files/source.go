package files

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// SourceConfig is the "files" source's config.
type SourceConfig struct {
	// Path is a glob of the files to load, relative to the config file.
	Path string `yaml:"path"`
	// Format is csv or jsonl; by default it follows Path's extension.
	Format string `yaml:"format"`
	// CSV configures CSV reading.
	CSV fileformat.CSVOptions `yaml:"csv"`
}

// Position is the files source's resume point: the file being read, its
// content hash, the byte offset just after the last record delivered and
// the number of lines up to it; Rows counts the rows delivered from the
// file so far, so the ledger's row count survives a resume.
type Position struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Offset int64  `json:"offset"`
	Line   int64  `json:"line"`
	Rows   int64  `json:"rows,omitempty"`
}

const sourceExample = `source:
  type: files
  path: inbox/leads/*.csv
  format: csv
  csv: { delimiter: ",", header: true }
`

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{
			Type:    "files",
			Summary: "Load CSV or JSON Lines files matching a glob, each file once (by content hash), resumable mid-file.",
			Example: sourceExample,
			Config: func() any {
				return &SourceConfig{CSV: fileformat.DefaultCSVOptions()}
			},
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Source, error) {
			c, ok := cfg.(*SourceConfig)
			if !ok {
				return nil, fmt.Errorf("files: config is %T, want *files.SourceConfig", cfg)
			}
			return NewSource(*c, env)
		},
	})
}

// Source reads every file matching a glob, in name order, one file per
// batch at most. Files whose content the ledger has seen loaded are
// skipped unless the run is a full refresh.
type Source struct {
	pattern string // absolute glob
	baseDir string
	format  fileformat.Format
	csv     fileformat.CSVOptions

	env   etl.SourceEnv
	log   *slog.Logger
	files []string
	next  int // index in files of the next file to open
	pos   *Position
	cur   *openFile
}

var _ etl.Source = (*Source)(nil)

// openFile is the file being read.
type openFile struct {
	f      *os.File
	rel    string
	done   etl.FileDone
	dec    fileformat.Decoder
	offset int64 // after the last batch delivered
}

// NewSource validates cfg and returns the source; it does no I/O.
func NewSource(cfg SourceConfig, env etl.BuildEnv) (*Source, error) {
	if cfg.Path == "" {
		return nil, &etl.FieldError{Path: []string{"path"}, Err: errors.New("required: a glob such as inbox/*.csv")}
	}
	if _, err := filepath.Match(cfg.Path, ""); err != nil {
		return nil, &etl.FieldError{Path: []string{"path"}, Err: fmt.Errorf("bad glob %q: %w", cfg.Path, err)}
	}
	format, err := fileformat.Resolve(cfg.Format, cfg.Path)
	if err != nil {
		key := "format"
		if cfg.Format == "" {
			key = "path"
		}
		return nil, &etl.FieldError{Path: []string{key}, Err: err}
	}
	if format.Name == "csv" {
		if _, err := cfg.CSV.DelimiterByte(); err != nil {
			return nil, &etl.FieldError{Path: []string{"csv", "delimiter"}, Err: err}
		}
	}
	pattern := cfg.Path
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(env.BaseDir, pattern)
	}
	return &Source{pattern: pattern, baseDir: env.BaseDir, format: format, csv: cfg.CSV}, nil
}

// Open lists the matching files and reads the position to resume from.
func (s *Source) Open(ctx context.Context, env etl.SourceEnv) error {
	s.env = env
	if s.env.BatchSize <= 0 {
		s.env.BatchSize = etl.DefaultBatchSize
	}
	s.log = env.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	files, err := filepath.Glob(s.pattern)
	if err != nil {
		return fmt.Errorf("files: glob %s: %w", s.pattern, err)
	}
	s.files = s.files[:0]
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			s.files = append(s.files, f)
		}
	}
	sort.Strings(s.files)
	s.next, s.pos = 0, nil
	if len(env.Position) > 0 && !env.FullRefresh {
		var p Position
		if err := json.Unmarshal(env.Position, &p); err != nil {
			return fmt.Errorf("files: position %s: %w", env.Position, err)
		}
		s.pos = &p
	}
	return nil
}

// Next returns the next batch of the current file, opening (and hashing)
// the next file to load when the current one is done.
func (s *Source) Next(ctx context.Context) (*etl.Batch, error) {
	for s.cur == nil {
		if s.next >= len(s.files) {
			return nil, etl.ErrEndOfInput
		}
		path := s.files[s.next]
		s.next++
		cur, err := s.openFile(ctx, path)
		if err != nil {
			return nil, err
		}
		s.cur = cur
	}
	cur := s.cur
	b, err := cur.dec.Decode(ctx, s.env.BatchSize)
	eof := errors.Is(err, io.EOF)
	if err != nil && !eof {
		s.closeCurrent()
		return nil, fmt.Errorf("files: %s: %w", cur.rel, err)
	}
	offset, line := cur.dec.Position()
	cur.done.Rows += int64(b.Len())
	pos, err := json.Marshal(Position{File: cur.rel, SHA256: cur.done.SHA256, Offset: offset, Line: line, Rows: cur.done.Rows})
	if err != nil {
		return nil, fmt.Errorf("files: position: %w", err)
	}
	b.Position = pos
	b.Bytes = offset - cur.offset
	cur.offset = offset
	if eof {
		b.Files = append(b.Files, cur.done)
		s.log.Info("file read", "file", cur.rel, "rows", cur.done.Rows, "bytes", cur.done.Size)
		s.closeCurrent()
	}
	return b, nil
}

// openFile opens, hashes and checks one file against the ledger; it
// returns nil, nil for a file to skip.
func (s *Source) openFile(ctx context.Context, path string) (*openFile, error) {
	rel := s.rel(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("files: hash %s: %w", rel, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if s.env.Ledger != nil && !s.env.FullRefresh {
		rec, loaded, err := s.env.Ledger.FileLoaded(ctx, s.env.Job, sum)
		if err != nil {
			return nil, fmt.Errorf("files: ledger lookup %s: %w", rel, err)
		}
		if loaded {
			s.log.Info("file already loaded, skipping", "file", rel, "sha256", sum,
				"loaded_as", rec.Path, "run", rec.RunID)
			return nil, nil
		}
	}
	opts := fileformat.DecodeOptions{File: rel, CSV: s.csv, Logger: s.log}
	var rows int64
	if s.pos != nil && s.pos.SHA256 == sum {
		opts.Offset, opts.Line, rows = s.pos.Offset, s.pos.Line, s.pos.Rows
		s.log.Info("resuming file", "file", rel, "offset", opts.Offset, "line", opts.Line)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	dec, err := s.format.NewDecoder(f, opts)
	if err != nil {
		return nil, fmt.Errorf("files: %s: %w", rel, err)
	}
	keep = true
	return &openFile{
		f: f, rel: rel, dec: dec, offset: opts.Offset,
		done: etl.FileDone{Path: rel, Size: st.Size(), MTime: st.ModTime().UTC(), SHA256: sum, Rows: rows},
	}, nil
}

// rel is path as users see it: relative to the config's directory when it
// lies below it.
func (s *Source) rel(path string) string {
	if s.baseDir != "" {
		if r, err := filepath.Rel(s.baseDir, path); err == nil && filepath.IsLocal(r) {
			return filepath.ToSlash(r)
		}
	}
	return path
}

func (s *Source) closeCurrent() {
	if s.cur != nil {
		s.cur.f.Close()
		s.cur = nil
	}
}

// Close closes the file being read, if any.
func (s *Source) Close() error {
	s.closeCurrent()
	return nil
}
