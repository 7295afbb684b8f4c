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
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// DefaultSettle is how long a file's size and mtime must have been stable
// before it is read, unless the config says otherwise.
const DefaultSettle = 2 * time.Second

// DefaultPoll is how often a watched folder is listed besides the events
// the operating system sends.
const DefaultPoll = time.Second

// settleTries bounds the waits for one file that keeps changing: after
// that many settle periods it is left for the next run.
const settleTries = 5

// SourceConfig is the "files" source's config.
type SourceConfig struct {
	// Path is a glob of the files to load, relative to the config file.
	Path string `yaml:"path" doc:"a glob of the files to load, relative to the config file"`
	// Format is csv, jsonl, json, xml or xlsx; by default it follows Path's
	// extension (a .gz suffix is looked through).
	Format string `yaml:"format" doc:"csv, jsonl, json, xml or xlsx; by default it follows the path's extension (a .gz suffix is looked through)"`
	// CSV configures CSV reading (and the text encoding of every text
	// format).
	CSV fileformat.CSVOptions `yaml:"csv" doc:"CSV reading (and the text encoding of every text format)"`
	// JSON configures JSON reading.
	JSON fileformat.JSONOptions `yaml:"json" doc:"JSON reading"`
	// XML configures XML reading.
	XML fileformat.XMLOptions `yaml:"xml" doc:"XML reading"`
	// XLSX configures workbook reading.
	XLSX fileformat.XLSXOptions `yaml:"xlsx" doc:"workbook reading"`
	// Settle is how long a file's size and mtime must have been stable
	// before it is read; younger files are waited for.
	Settle time.Duration `yaml:"settle" doc:"how long a file's size and mtime must have been stable before it is read; younger files are waited for"`
	// Watch says the daemon (and run --watch) loads files as they land.
	Watch bool `yaml:"watch" doc:"the daemon (and run --watch) loads files as they land"`
	// Poll is how often a watched folder is listed, besides file system
	// events.
	Poll time.Duration `yaml:"poll" doc:"how often a watched folder is listed, besides file system events"`
	// Archive is a folder loaded files are moved to once their rows are
	// checkpointed; empty leaves them in place.
	Archive string `yaml:"archive" doc:"a folder loaded files are moved to once their rows are checkpointed; empty leaves them in place"`
	// Failed is a folder files that cannot be read are moved to, with a
	// .error.txt beside them; by default "failed" beside Archive. Without
	// either such a file stays in place, set aside (see Source).
	Failed string `yaml:"failed" doc:"a folder files that cannot be read are moved to, with a .error.txt beside them; by default \"failed\" beside archive"`
	// Root is the folder files must lie in, symbolic links resolved; by
	// default the config's folder (for an absolute Path, Path's folder).
	Root string `yaml:"root" doc:"the folder files must lie in, symbolic links resolved; by default the config's folder (for an absolute path, its folder)"`
}

// Position is the files source's resume point: the file being read, its
// content hash, the byte offset just after the last record delivered and
// the number of lines up to it; Rows counts the rows delivered from the
// file so far, so the ledger's row count survives a resume. For a gzip or
// transcoded file the offset is in the decoded text; for a workbook it is
// the format's own.
//
// A file hashed before it was read has its whole hash in SHA256; one
// hashed while read (see readhash.go) has in Prefix the hash of its bytes
// before Offset, and no SHA256; End marks its position at its end.
type Position struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256,omitempty"`
	Prefix string `json:"prefix_sha256,omitempty"`
	End    bool   `json:"end,omitempty"`
	Offset int64  `json:"offset"`
	Line   int64  `json:"line"`
	Rows   int64  `json:"rows,omitempty"`
}

const sourceExample = `source:
  type: files
  path: inbox/leads/*.csv
  format: csv
  csv: { delimiter: auto, encoding: auto, header: true }
  settle: 2s
  archive: inbox/done
`

// DefaultSourceConfig is the source's config before the YAML is applied.
func DefaultSourceConfig() SourceConfig {
	return SourceConfig{
		CSV: fileformat.DefaultCSVOptions(), XLSX: fileformat.DefaultXLSXOptions(),
		Settle: DefaultSettle, Poll: DefaultPoll,
	}
}

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{
			Type:    "files",
			Summary: "Load CSV, JSON Lines, JSON, XML or XLSX files (gzip too) matching a glob, each file once (by content hash), resumable mid-file.",
			Example: sourceExample,
			Config: func() any {
				c := DefaultSourceConfig()
				return &c
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
//
// Archive and failed folders: a file is moved to the archive only once
// the ledger (the state store, written by the runner in the transaction
// that checkpoints the file's last rows) says it is loaded. The source
// asks the ledger at each Ack, after the runner's checkpoints, for the
// files it finished; a file loaded but not moved (a crash in between) is
// moved by the next run, which finds it in the ledger. A file that cannot
// be moved fails the run (its rows stay loaded and recorded). A file that cannot
// be read (unreadable, not in its format, outside the root, cut short) is
// set aside: quarantined as one reject naming the file and why, recorded
// in the ledger as failed (skipped while its bytes, or for a file never
// read its name, size and time, are unchanged), and moved to the failed
// folder with the error in NAME.error.txt beside it when there is one;
// the run goes on with the other files.
type Source struct {
	pattern    string // absolute glob
	baseDir    string
	root       string // absolute
	format     fileformat.Format
	csv        fileformat.CSVOptions
	json       fileformat.JSONOptions
	xml        fileformat.XMLOptions
	xlsx       fileformat.XLSXOptions
	enc        encoding.Encoding // forced decoding; nil with auto
	autoEnc    bool
	settle     time.Duration
	poll       time.Duration
	watch      bool
	archiveDir string
	failedDir  string

	env   etl.SourceEnv
	log   *slog.Logger
	clock etl.Clock // the run's (SourceEnv), from Open
	// watchClock is the one it was built with, for Watch, which runs
	// beside the runs rather than in one.
	watchClock etl.Clock
	realRoot   string
	files      []string
	next       int // index in files of the next file to open
	pos        *Position
	cur        *openFile
	// finished are the files read to their end and not archived yet;
	// Next adds to it while Ack, on the runner's commit stage, takes
	// from it.
	mu       sync.Mutex
	finished []finishedFile
	// read maps the content hashes delivered in this run to their files:
	// the ledger only learns of them at the runner's checkpoint, which may
	// come after the source has read ahead to a copy.
	read map[string]string
	// readSizes are the sizes of the files opened in this run: a file of
	// another size is none of them (see streamable).
	readSizes map[int64]bool
	// only, when set (Only), restricts the files to these (as the ledger
	// names them): a partition's.
	only map[string]bool
}

var (
	_ etl.Source   = (*Source)(nil)
	_ etl.Acker    = (*Source)(nil)
	_ etl.Reopener = (*Source)(nil)
)

// Reopens implements etl.Reopener: Open lists the files again and reads
// from env.Position, forgetting what the last opening read; in a full
// refresh, on from the position in name order.
func (s *Source) Reopens() bool { return true }

// openFile is the file being read.
type openFile struct {
	f      *os.File
	path   string
	rel    string
	done   etl.FileDone
	dec    fileformat.Decoder
	offset int64 // after the last batch delivered
	line   int64
	// rejected counts the records the decoder refused (malformed lines):
	// they are read, and quarantined, but are not among done.Rows.
	rejected int
	// hash, for a file hashed while read, is its hash so far: done.SHA256
	// is set at its end. text is what its decoder reads.
	hash *readHash
	text *textReader
}

// finishedFile is a file read to its end in this run, to archive once the
// ledger has it.
type finishedFile struct {
	path string
	done etl.FileDone
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
	if format.NewDecoder == nil {
		return nil, &etl.FieldError{Path: []string{"format"}, Err: fmt.Errorf("format %q cannot be read", format.Name)}
	}
	if format.Name == "csv" {
		if _, err := cfg.CSV.DelimiterByte(); err != nil {
			return nil, &etl.FieldError{Path: []string{"csv", "delimiter"}, Err: err}
		}
		if _, _, _, err := cfg.CSV.Limits(); err != nil {
			return nil, &etl.FieldError{Path: []string{"csv"}, Err: err}
		}
	}
	if format.Name == "xml" {
		if _, err := cfg.XML.Steps(); err != nil {
			return nil, &etl.FieldError{Path: []string{"xml", "record_path"}, Err: err}
		}
	}
	enc, err := textEncoding(cfg.CSV.Encoding)
	if err != nil {
		return nil, &etl.FieldError{Path: []string{"csv", "encoding"}, Err: err}
	}
	if cfg.XLSX.HeaderRow < 0 {
		return nil, &etl.FieldError{Path: []string{"xlsx", "header_row"}, Err: errors.New("must be 1 or more")}
	}
	if cfg.XLSX.HeaderRow == 0 {
		cfg.XLSX.HeaderRow = 1
	}
	if cfg.Settle < 0 {
		return nil, &etl.FieldError{Path: []string{"settle"}, Err: errors.New("must not be negative")}
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(env.BaseDir, p)
	}
	pattern := abs(cfg.Path)
	root := abs(cfg.Root)
	if cfg.Root == "" {
		root = abs(".")
		if filepath.IsAbs(cfg.Path) {
			root = staticDir(pattern)
		}
	}
	if !within(root, staticDir(pattern)) {
		return nil, &etl.FieldError{Path: []string{"path"}, Err: fmt.Errorf("%s leads %w %s (set root to allow it)", cfg.Path, ErrOutsideRoot, root)}
	}
	s := &Source{
		pattern: pattern, baseDir: env.BaseDir, root: root, format: format,
		csv: cfg.CSV, json: cfg.JSON, xml: cfg.XML, xlsx: cfg.XLSX,
		enc: enc, autoEnc: enc == nil && !strings.EqualFold(strings.ReplaceAll(cfg.CSV.Encoding, "-", ""), "utf8"),
		settle: cfg.Settle, poll: cfg.Poll, watch: cfg.Watch, watchClock: etl.SystemClockOr(env.Clock),
	}
	if cfg.Archive != "" {
		s.archiveDir = abs(cfg.Archive)
		s.failedDir = filepath.Join(filepath.Dir(s.archiveDir), "failed")
	}
	if cfg.Failed != "" {
		s.failedDir = abs(cfg.Failed)
	}
	for _, d := range []struct{ key, dir, cfg string }{{"archive", s.archiveDir, cfg.Archive}, {"failed", s.failedDir, cfg.Failed}} {
		if d.dir != "" && !filepath.IsAbs(d.cfg) && !within(root, d.dir) {
			return nil, &etl.FieldError{Path: []string{d.key}, Err: fmt.Errorf("%s leads %w %s", d.cfg, ErrOutsideRoot, root)}
		}
		if d.dir != "" {
			if ok, _ := filepath.Match(pattern, filepath.Join(d.dir, "x"+filepath.Ext(pattern))); ok {
				return nil, &etl.FieldError{Path: []string{d.key}, Err: fmt.Errorf("%s lies within the files to load (%s)", d.dir, cfg.Path)}
			}
		}
	}
	return s, nil
}

// Watching reports whether the config asks for the folder to be watched
// (`watch: true`).
func (s *Source) Watching() bool { return s.watch }

// Glob returns the absolute glob of the files the source loads.
func (s *Source) Glob() string { return s.pattern }

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
	s.clock = etl.SystemClockOr(env.Clock)
	s.mu.Lock()
	s.finished = nil
	s.mu.Unlock()
	s.read = make(map[string]string)
	s.readSizes = make(map[int64]bool)
	files, err := filepath.Glob(s.pattern)
	if err != nil {
		return fmt.Errorf("files: glob %s: %w", s.pattern, err)
	}
	s.realRoot = ""
	if len(files) > 0 {
		if s.realRoot, err = filepath.EvalSymlinks(s.root); err != nil {
			return fmt.Errorf("files: root: %w", err)
		}
	}
	s.files = s.files[:0]
	for _, f := range files {
		// Symbolic links are kept, to be checked against the root in turn.
		if st, err := os.Lstat(f); err == nil && (st.Mode().IsRegular() || st.Mode()&os.ModeSymlink != 0) {
			s.files = append(s.files, f)
		}
	}
	if s.only != nil {
		s.files = slices.DeleteFunc(s.files, func(f string) bool { return !s.only[s.rel(f)] })
	}
	sort.Strings(s.files)
	s.next, s.pos = 0, nil
	if len(env.Position) > 0 {
		var p Position
		if err := json.Unmarshal(env.Position, &p); err != nil {
			return fmt.Errorf("files: position %s: %w", env.Position, err)
		}
		s.pos = &p
		i := slices.IndexFunc(s.files, func(f string) bool { return s.rel(f) == p.File })
		switch {
		case env.FullRefresh:
			// A full refresh the runner rewound (see etl.Reopener): it
			// read the files in name order, ignoring the ledger, up to
			// the position, and reads on from there.
			s.files = slices.DeleteFunc(s.files, func(f string) bool { return s.rel(f) < p.File })
		case i > 0 && !p.End:
			// The position holds one file's progress: the file it names
			// is read on first. A file sorting ahead of it (a new one, or
			// one replaced since) would otherwise take the position over
			// with its first batch, and the part of this one already
			// loaded would be read again whole by the next run.
			f := s.files[i]
			copy(s.files[1:i+1], s.files[:i])
			s.files[0] = f
		}
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
		var whole *wholeFileError
		if errors.As(err, &whole) {
			b, err := s.fail(ctx, path, whole.done, whole.err, 0, 0)
			if b == nil && err == nil {
				continue // failed before, and unchanged
			}
			return b, err
		}
		if err != nil {
			return nil, err
		}
		s.cur = cur
	}
	cur := s.cur
	b, err := cur.dec.Decode(ctx, s.env.BatchSize)
	eof := errors.Is(err, io.EOF)
	if err != nil && !eof {
		return s.failCurrent(ctx, err)
	}
	offset, line := cur.dec.Position()
	p := Position{File: cur.rel, SHA256: cur.done.SHA256, Offset: offset, Line: line, Rows: cur.done.Rows + int64(b.Len())}
	if cur.hash != nil {
		if err := cur.hashRead(&p, offset, eof); err != nil {
			return s.failCurrent(ctx, fmt.Errorf("hash: %w", err))
		}
		if eof {
			s.read[cur.done.SHA256] = cur.rel
			s.readSizes[cur.done.Size] = true
		}
	}
	cur.done.Rows += int64(b.Len())
	cur.rejected += len(b.Rejects)
	pos, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("files: position: %w", err)
	}
	b.Position = pos
	if bd, ok := cur.dec.(fileformat.BinaryDecoder); ok {
		offset = bd.Bytes()
	}
	b.Bytes = offset - cur.offset
	cur.offset, cur.line = offset, line
	if eof {
		b.Files = append(b.Files, cur.done)
		if s.archiveDir != "" {
			s.mu.Lock()
			s.finished = append(s.finished, finishedFile{path: cur.path, done: cur.done})
			s.mu.Unlock()
		}
		s.log.Info("file read", "file", cur.rel, "rows", cur.done.Rows, "rejected", cur.rejected, "bytes", cur.done.Size)
		s.closeCurrent()
	}
	return b, nil
}

// failCurrent sets aside the file being read, which failed with err.
func (s *Source) failCurrent(ctx context.Context, err error) (*etl.Batch, error) {
	cur := s.cur
	done := &cur.done
	if ctx.Err() == nil {
		done = cur.hashWhole()
	}
	if done != nil && cur.hash != nil {
		s.read[done.SHA256] = cur.rel // as a file hashed first is at its opening
	}
	s.closeCurrent()
	if ctx.Err() != nil {
		return nil, err
	}
	return s.fail(ctx, cur.path, done, err, cur.done.Rows, cur.line)
}

// wholeFileError is a file that cannot be loaded at all: it goes to the
// failed folder when there is one. done is its ledger entry when it was
// hashed.
type wholeFileError struct {
	err  error
	done *etl.FileDone
}

func (e *wholeFileError) Error() string { return e.err.Error() }
func (e *wholeFileError) Unwrap() error { return e.err }

// openFile waits for the file to settle, hashes it, checks it against the
// ledger and opens its decoder; it returns nil, nil for a file to skip and
// a *wholeFileError for one that cannot be loaded.
func (s *Source) openFile(ctx context.Context, path string) (*openFile, error) {
	rel := s.rel(path)
	if err := checkReal(s.realRoot, path, rel); err != nil {
		return nil, &wholeFileError{err: err}
	}
	st, ok, err := s.settled(ctx, path)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &wholeFileError{err: err}
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	if ok, err := s.streamable(ctx, f, rel, st.Size()); err != nil {
		return nil, err
	} else if ok {
		cur, err := s.openStreamed(ctx, f, path, rel, st)
		keep = cur != nil
		return cur, err
	}
	s.readSizes[st.Size()] = true
	var utf *utf8Checker
	h := sha256.New()
	var w io.Writer = h
	if !s.format.Binary && s.autoEnc {
		utf = new(utf8Checker)
		w = io.MultiWriter(h, utf)
	}
	// A file loaded from this path before may only have grown since (a
	// chat log, a CSV appended to): its loaded part is hashed on the way.
	var prev etl.FileRecord
	var prefix *prefixHash
	if pl, ok := s.env.Ledger.(etl.PathLedger); ok && !s.env.FullRefresh && (s.format.Name == "csv" || s.format.Name == "jsonl") {
		rec, found, err := pl.LastLoaded(ctx, s.env.Job, rel)
		if err != nil {
			return nil, fmt.Errorf("files: ledger lookup %s: %w", rel, err)
		}
		if found && rec.Size > 0 && rec.Size < st.Size() {
			prev, prefix = rec, newPrefixHash(rec.Size)
			w = io.MultiWriter(w, prefix)
		}
	}
	// A position recorded while the file was hashed as read holds the
	// hash of the bytes before its offset.
	var posPrefix *prefixHash
	if s.pos != nil && s.pos.Prefix != "" && s.pos.File == rel {
		posPrefix = newPrefixHash(s.pos.Offset)
		w = io.MultiWriter(w, posPrefix)
	}
	if _, err := io.Copy(w, f); err != nil {
		return nil, &wholeFileError{err: fmt.Errorf("hash: %w", err)}
	}
	if after, err := f.Stat(); err != nil || after.Size() != st.Size() || !after.ModTime().Equal(st.ModTime()) {
		s.log.Warn("file changed while being read; left for the next run", "file", rel)
		return nil, nil
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if s.env.Ledger != nil && !s.env.FullRefresh {
		rec, found, err := s.env.Ledger.LedgerEntry(ctx, s.env.Job, sum)
		if err != nil {
			return nil, fmt.Errorf("files: ledger lookup %s: %w", rel, err)
		}
		if found && rec.Status == "failed" {
			s.log.Warn(fmt.Sprintf("%s could not be loaded by run %d and has not changed since: skipped (its reason is in the quarantine; a changed file is read again)", rel, rec.RunID),
				"file", rel, "sha256", sum, "failed_in_run", rec.RunID)
			return nil, nil
		}
		if found && rec.Status == ledgerClaimed && s.only != nil {
			found = false // this run is the partition it was claimed for
		}
		if found && rec.Status == ledgerClaimed {
			s.log.Info("file claimed by a partition of another run, which loads it: skipping", "file", rel, "sha256", sum, "claimed_by_run", rec.RunID)
			return nil, nil
		}
		if found {
			if rec.Path == rel {
				// loaded_by_run, not run: the logger carries this run's id as run.
				s.log.Info("file already loaded, skipping", "file", rel, "sha256", sum, "loaded_by_run", rec.RunID)
			} else {
				s.log.Info("same content as a file already loaded, skipping", "file", rel, "sha256", sum,
					"loaded_as", rec.Path, "loaded_by_run", rec.RunID)
			}
			f.Close()
			keep = true // closed
			if err := s.archive(path, rel); err != nil {
				return nil, err
			}
			return nil, nil
		}
	}
	if first, dup := s.read[sum]; dup {
		s.log.Info("same content as a file read in this run, skipping", "file", rel, "sha256", sum, "read_as", first)
		return nil, nil
	}
	s.read[sum] = rel
	opts := fileformat.DecodeOptions{File: rel, CSV: s.csv, JSON: s.json, XML: s.xml, XLSX: s.xlsx, Logger: s.log}
	var rows int64
	// Its loaded part ASCII, the new part decides the encoding, as it
	// would the whole file's (so it is when the file is hashed as read).
	grown := prefix != nil && prefix.matches(prev.SHA256) && s.enc == nil && (utf == nil || utf.valid(true) || !prefix.nonASCII) && !isGzip(prefix.head)
	// Read as it is (no gzip, no decoding), its offsets are the file's.
	plain := s.enc == nil && (utf == nil || detect(utf.head, utf.valid(true)) == nil)
	switch {
	case s.pos != nil && s.pos.SHA256 == sum,
		posPrefix != nil && posPrefix.sum() == s.pos.Prefix && plain && !isGzip(posPrefix.head) && (!s.pos.End || s.pos.Offset == st.Size()):
		opts.Offset, opts.Line, rows = s.pos.Offset, s.pos.Line, s.pos.Rows
		s.log.Info("resuming file", "file", rel, "offset", opts.Offset, "line", opts.Line)
	case grown:
		// Only grown: its loaded part is the same bytes, whole lines.
		opts.Offset, opts.Line, rows = prev.Size, prefix.lines, prev.Rows
		s.logGrown(rel, prev, st.Size(), opts.Line)
	case prefix != nil:
		s.logChanged(rel, prev)
	}
	done := etl.FileDone{Path: rel, Size: st.Size(), MTime: st.ModTime().UTC(), SHA256: sum, Rows: rows}
	r, err := s.reader(f, rel, utf)
	if err != nil {
		return nil, &wholeFileError{err, &done}
	}
	dec, err := s.format.NewDecoder(r, opts)
	if err != nil {
		return nil, &wholeFileError{err, &done}
	}
	keep = true
	return &openFile{f: f, path: path, rel: rel, dec: dec, offset: opts.Offset, line: opts.Line, done: done}, nil
}

// reader returns what the format's decoder reads: the file itself, or its
// decoded text for a gzip file or one not in UTF-8.
func (s *Source) reader(f *os.File, rel string, utf *utf8Checker) (io.ReadSeeker, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if s.format.Binary {
		return f, nil
	}
	var head [2]byte
	n, _ := io.ReadFull(f, head[:])
	gz := isGzip(head[:n])
	enc := s.enc
	if s.autoEnc {
		var ev *utf8Evidence
		var err error
		if gz {
			enc, ev, err = sniffGzip(f)
		} else if enc = detect(utf.head, utf.valid(true)); enc == charmap.Windows1252 {
			ev, err = plainEvidence(f)
		}
		if err != nil {
			return nil, err
		}
		if ev != nil {
			enc = s.textEvidence(rel, ev)
		}
	}
	if !gz && enc == nil {
		_, err := f.Seek(0, io.SeekStart)
		return f, err
	}
	return newTextStream(f, gz, enc)
}

// settled waits until path's size and mtime have been stable for the
// settle time (by its mtime's age); ok is false for a file that kept
// changing, left for the next run.
func (s *Source) settled(ctx context.Context, path string) (os.FileInfo, bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, false, &wholeFileError{err: err}
	}
	if s.settle <= 0 {
		return st, true, nil
	}
	for range settleTries {
		age := s.clock.Now().Sub(st.ModTime())
		if age >= s.settle {
			return st, true, nil
		}
		// Info, not Debug: a first run after init would otherwise pause
		// for the settle time in silence.
		wait := s.settle - age
		s.log.Info(fmt.Sprintf("waiting %s for %s to settle (settle: %s)", wait.Round(100*time.Millisecond), s.rel(path), s.settle),
			"file", s.rel(path), "wait", wait)
		if err := etl.Sleep(ctx, s.clock, wait); err != nil {
			return nil, false, err
		}
		now, err := os.Stat(path)
		if err != nil {
			return nil, false, &wholeFileError{err: err}
		}
		if now.Size() == st.Size() && now.ModTime().Equal(st.ModTime()) {
			return st, true, nil
		}
		st = now
	}
	s.log.Warn("file still changing; left for the next run", "file", s.rel(path), "settle", s.settle)
	return nil, false, nil
}

// fail handles a file that cannot be loaded: without a failed folder the
// run fails; with one, the file moves there with its error beside it and
// the run goes on with a reject naming the file.
func (s *Source) fail(ctx context.Context, path string, done *etl.FileDone, cause error, rows, line int64) (*etl.Batch, error) {
	rel := s.rel(path)
	if rows > 0 {
		cause = fmt.Errorf("%w (after %d rows, up to line %d, were loaded)", cause, rows, line)
	}
	if done == nil {
		// Not hashed (unreadable, outside the root): its ledger entry is
		// keyed by its name, size and time, so that a change retries it.
		entry, err := unreadEntry(path, rel)
		if err != nil {
			return nil, fmt.Errorf("files: %s: %w; and it cannot be examined: %v", rel, cause, err)
		}
		if s.env.Ledger != nil && !s.env.FullRefresh {
			rec, found, err := s.env.Ledger.LedgerEntry(ctx, s.env.Job, entry.SHA256)
			if err != nil {
				return nil, fmt.Errorf("files: ledger lookup %s: %w", rel, err)
			}
			if found && rec.Status == "failed" {
				s.log.Warn(fmt.Sprintf("%s could not be loaded by run %d and has not changed since: skipped", rel, rec.RunID),
					"file", rel, "failed_in_run", rec.RunID, "err", cause)
				return nil, nil
			}
		}
		done = &entry
	}
	failed := *done
	failed.Failed = true
	if s.failedDir == "" {
		s.log.Error(fmt.Sprintf("%s could not be loaded: set aside, and the other files load (set failed: to move such files away)", rel),
			"file", rel, "err", cause)
		b := etl.NewBatch(etl.MustSchema(), 0)
		b.Rejects = []etl.Reject{{Step: "source", Origin: etl.Origin{File: rel}, Reason: fmt.Sprintf("file set aside: %v", cause)}}
		b.Files = []etl.FileDone{failed}
		return b, nil
	}
	dst, err := moveInto(path, s.failedDir)
	if err != nil {
		return nil, fmt.Errorf("files: %s: %w; moving it to %s failed too: %v", rel, cause, s.failedDir, err)
	}
	note := fmt.Sprintf("%s\n%s could not be loaded: %v\n", s.clock.Now().UTC().Format(time.RFC3339), rel, cause)
	if err := os.WriteFile(dst+".error.txt", []byte(note), 0o644); err != nil {
		s.log.Warn("cannot write the error file", "file", dst+".error.txt", "err", err)
	}
	s.log.Error("file could not be loaded; moved to the failed folder", "file", rel, "to", s.rel(dst), "err", cause)
	b := etl.NewBatch(etl.MustSchema(), 0)
	b.Rejects = []etl.Reject{{
		Step: "source", Origin: etl.Origin{File: rel},
		Reason: fmt.Sprintf("file not loaded, moved to %s: %v", s.rel(dst), cause),
	}}
	b.Files = []etl.FileDone{failed}
	return b, nil
}

// unreadEntry is the ledger entry of a file that was not hashed: keyed by
// its name, size and modification time.
func unreadEntry(path, rel string) (etl.FileDone, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return etl.FileDone{}, err
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", rel, st.Size(), st.ModTime().UnixNano()))
	return etl.FileDone{Path: rel, Size: st.Size(), MTime: st.ModTime().UTC(), SHA256: "unread-" + hex.EncodeToString(sum[:])}, nil
}

// archive moves a loaded file to the archive folder, if there is one.
func (s *Source) archive(path, rel string) error {
	if s.archiveDir == "" {
		return nil
	}
	dst, err := moveInto(path, s.archiveDir)
	if err != nil {
		return fmt.Errorf("files: move loaded file %s to the archive %s: %w", rel, s.rel(s.archiveDir), err)
	}
	s.log.Info("file archived", "file", rel, "to", s.rel(dst))
	return nil
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

func (s *Source) closeCurrent() error {
	if s.cur == nil {
		return nil
	}
	err := s.cur.f.Close()
	s.cur = nil
	return err
}

// Ack moves the files finished so far that the ledger now holds (their
// last rows checkpointed) to the archive; a file changed since it was read
// stays where it is.
func (s *Source) Ack(ctx context.Context, _ etl.Position) error {
	s.mu.Lock()
	pending := s.finished
	s.finished = nil
	s.mu.Unlock()
	if len(pending) == 0 || s.env.Ledger == nil {
		return nil
	}
	var (
		keep []finishedFile
		errs []error
	)
	for i, f := range pending {
		rec, found, err := s.env.Ledger.LedgerEntry(ctx, s.env.Job, f.done.SHA256)
		loaded := found && rec.Status == "loaded"
		if err != nil {
			keep = append(keep, pending[i:]...)
			errs = append(errs, fmt.Errorf("files: ledger look-up before archiving %s: %w", f.done.Path, err))
			break
		}
		if !loaded {
			keep = append(keep, f) // its last rows are not recorded yet
			continue
		}
		st, err := os.Stat(f.path)
		if err != nil || st.Size() != f.done.Size || !st.ModTime().UTC().Equal(f.done.MTime) {
			s.log.Info("file changed since it was read: left in place", "file", f.done.Path)
			continue
		}
		if err := s.archive(f.path, f.done.Path); err != nil {
			errs = append(errs, err)
		}
	}
	if len(keep) > 0 {
		s.mu.Lock()
		s.finished = append(keep, s.finished...)
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Close closes the file being read. It archives nothing: Ack archived the
// files whose rows were recorded, and the others stay in place for the
// next run.
func (s *Source) Close(context.Context) error {
	if err := s.closeCurrent(); err != nil {
		return fmt.Errorf("files: close: %w", err)
	}
	return nil
}

// logGrown says that rel, loaded whole by prev's run, only grew (to size
// bytes) and is read on from where that load ended, after line lines.
func (s *Source) logGrown(rel string, prev etl.FileRecord, size, lines int64) {
	s.log.Info(fmt.Sprintf("%s grew since run %d loaded it: reading its %d new bytes, from line %d", rel, prev.RunID, size-prev.Size, lines+1),
		"file", rel, "loaded_by_run", prev.RunID, "offset", prev.Size, "line", lines)
}

// logChanged says that the part of rel prev's run loaded is not the same
// bytes now: it is read as a new file.
func (s *Source) logChanged(rel string, prev etl.FileRecord) {
	s.log.Info(fmt.Sprintf("%s changed since run %d loaded it (the part loaded is not the same): read as a new file", rel, prev.RunID),
		"file", rel, "loaded_by_run", prev.RunID)
}
