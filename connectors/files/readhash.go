package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// Hashing while reading. A file is known to the ledger by its content's
// SHA-256, and hashing a large file before its first row is read costs
// more than everything else a first row needs (0.2 s for 128 MB). A file
// whose size the ledger holds no entry of cannot be one it has seen, so
// such a file (a CSV or JSON Lines file read as it is: not gzip, not
// UTF-16, no forced encoding) is read at once and hashed from the bytes
// its decoder consumes (DecodeOptions.Consumed, so the file is read once):
// at each batch's end the hash has taken the bytes before the batch's end
// offset, and the batch's position records it (Position.Prefix); at the
// file's end the whole hash goes to the ledger as before. A resume hashes
// the bytes before the recorded offset again and goes on only if they are
// the same; a file that only grew since its load is resumed in the same
// way from the ledger's size and hash. Every other file is hashed whole
// before it is read, as it was.

// streamable reports whether the file at rel, of size bytes, can be read
// before it is hashed.
func (s *Source) streamable(ctx context.Context, f *os.File, rel string, size int64) (bool, error) {
	if s.only != nil || s.enc != nil || s.format.Binary || (s.format.Name != "csv" && s.format.Name != "jsonl") {
		return false, nil // partitions are claimed by hash; the offsets of a decoded text are not the file's
	}
	if s.pos != nil && s.pos.SHA256 != "" && s.pos.File == rel {
		return false, nil // its position holds the whole file's hash: resumed as it was recorded
	}
	if s.readSizes[size] {
		return false, nil // perhaps the same bytes as a file read in this run
	}
	var head [4]byte
	n, _ := f.ReadAt(head[:], 0)
	if isGzip(head[:n]) || (s.autoEnc && detect(head[:n], true) != nil) {
		return false, nil // gzip, UTF-16
	}
	if s.env.Ledger == nil || s.env.FullRefresh {
		return true, nil
	}
	sl, ok := s.env.Ledger.(etl.SizeLedger)
	if !ok {
		return false, nil
	}
	held, err := sl.HoldsSize(ctx, s.env.Job, size)
	if err != nil {
		return false, fmt.Errorf("files: ledger lookup %s: %w", rel, err)
	}
	return !held, nil
}

// openStreamed opens a streamable file: from the checkpoint's position,
// or from where its last load ended if it only grew since, when the bytes
// before that are the same; else from its start.
func (s *Source) openStreamed(ctx context.Context, f *os.File, path, rel string, st os.FileInfo) (*openFile, error) {
	h := newReadHash(f)
	opts := fileformat.DecodeOptions{File: rel, CSV: s.csv, JSON: s.json, XML: s.xml, XLSX: s.xlsx, Logger: s.log}
	var rows int64
	var head [3]byte
	n, _ := f.ReadAt(head[:], 0)
	bom := bytes.Equal(head[:n], []byte{0xEF, 0xBB, 0xBF})
	undecided := s.autoEnc && !bom
	// resumable hashes the bytes before offset and reports whether they
	// hash to sum and the rest reads as they were read.
	resumable := func(offset int64, sum string, wholeLines bool) (bool, error) {
		h.inspect = true
		got, err := h.to(offset)
		h.inspect = false
		if err != nil || got != sum || h.n != offset || (wholeLines && h.seen.last != '\n') {
			return false, err
		}
		if !undecided || !h.seen.nonASCII {
			return true, nil // the text after offset decides the encoding, as it would the whole file's
		}
		// Not ASCII before offset: read on as it is only if the whole file
		// is UTF-8, as its loaded part was read.
		if !h.utf.valid(true) {
			return false, nil
		}
		valid, err := validUTF8From(f, offset)
		if valid {
			undecided = false
		}
		return valid, err
	}
	// A position at the file's end resumes only the same file: one that
	// grew since is resumed by its ledger entry, below, whole lines only.
	if p := s.pos; p != nil && p.Prefix != "" && p.File == rel && (p.Offset < st.Size() && !p.End || p.Offset == st.Size()) {
		ok, err := resumable(p.Offset, p.Prefix, false)
		if err != nil {
			return nil, &wholeFileError{err: fmt.Errorf("hash: %w", err)}
		}
		if ok {
			opts.Offset, opts.Line, rows = p.Offset, p.Line, p.Rows
			s.log.Info("resuming file", "file", rel, "offset", opts.Offset, "line", opts.Line)
		} else {
			s.log.Info(fmt.Sprintf("%s changed since its last checkpoint (the part loaded is not the same): read as a new file", rel), "file", rel)
			h.reset()
		}
	}
	if pl, ok := s.env.Ledger.(etl.PathLedger); ok && opts.Offset == 0 && !s.env.FullRefresh {
		prev, found, err := pl.LastLoaded(ctx, s.env.Job, rel)
		if err != nil {
			return nil, fmt.Errorf("files: ledger lookup %s: %w", rel, err)
		}
		if found && prev.Size > 0 && prev.Size < st.Size() {
			h.reset()
			grown, err := resumable(prev.Size, prev.SHA256, true)
			if err != nil {
				return nil, &wholeFileError{err: fmt.Errorf("hash: %w", err)}
			}
			if grown {
				opts.Offset, opts.Line, rows = prev.Size, h.seen.lines, prev.Rows
				s.logGrown(rel, prev, st.Size(), opts.Line)
			} else {
				s.logChanged(rel, prev)
				h.reset()
			}
		}
	}
	s.readSizes[st.Size()] = true
	done := etl.FileDone{Path: rel, Size: st.Size(), MTime: st.ModTime().UTC(), Rows: rows}
	text := &textReader{f: f, rs: f, eof: -1, undecided: undecided,
		decide: func(at int64) (encoding.Encoding, error) { return s.decideText(f, rel, at) }}
	// The hash takes the bytes the decoder consumes, as it consumes them:
	// no second read of the file. Once the text is decoded they are not
	// the file's bytes; hashRead then hashes the file again whole.
	opts.Consumed = func(p []byte) {
		if !text.decoded {
			h.write(p)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, &wholeFileError{err: err}
	}
	dec, err := s.format.NewDecoder(text, opts)
	cur := &openFile{f: f, path: path, rel: rel, dec: dec, offset: opts.Offset, line: opts.Line, done: done, hash: h, text: text}
	if err != nil {
		return nil, &wholeFileError{err, cur.hashWhole()}
	}
	return cur, nil
}

// hashRead advances the hash of a file hashed while read to offset, the
// end of the batch whose position is p: p records the hash of the bytes
// before it, and at the file's end (eof) the ledger entry gets the whole
// file's.
func (cur *openFile) hashRead(p *Position, offset int64, eof bool) error {
	if cur.text.decoded {
		// Found not to be UTF-8: its offsets are in its decoded text from
		// here on, so it is hashed whole now (again: the decoder fed the
		// hash decoded text) and goes on as a file hashed before it was
		// read (its positions hold the whole hash).
		cur.hash.reset()
		sum, err := cur.hash.to(math.MaxInt64)
		if err != nil {
			return err
		}
		cur.done.SHA256, cur.done.Size, cur.hash = sum, cur.hash.n, nil
		p.SHA256 = sum
		return nil
	}
	if cur.hash.n > offset {
		// The decoder passed bytes past the batch's end (it must not):
		// hashed again to the offset from the start, never a wrong hash.
		cur.hash.reset()
	}
	sum, err := cur.hash.to(offset) // what the decoder did not pass, read from the file
	if err != nil {
		return err
	}
	p.Prefix = sum
	if eof {
		// The bytes the decoder read to the end, none appended since.
		p.End = true
		if sum, err = cur.hash.to(max(offset, cur.text.eof)); err != nil {
			return err
		}
		cur.done.SHA256, cur.done.Size = sum, cur.hash.n
	}
	return nil
}

// hashWhole hashes the rest of a file hashed while read that cannot be
// read on, for its ledger entry as failed; nil when it cannot be hashed
// either (it is then recorded by its name, size and time).
func (cur *openFile) hashWhole() *etl.FileDone {
	if cur.hash == nil {
		return &cur.done
	}
	if cur.text.decoded {
		cur.hash.reset() // the decoder fed it decoded text
	}
	sum, err := cur.hash.to(math.MaxInt64)
	if err != nil {
		return nil
	}
	cur.done.SHA256, cur.done.Size = sum, cur.hash.n
	return &cur.done
}

// readHash is the SHA-256 of a file's first n bytes, advanced by what its
// decoder consumes (write) or else by reading the file (to: a resume's
// bytes before its offset, the rest of a file that cannot be read on), so
// that it is the hash of exactly the bytes before a batch's end.
type readHash struct {
	f   *os.File
	h   hash.Hash
	n   int64 // bytes hashed or pending
	buf []byte
	// pending are bytes write took, not hashed yet.
	pending []byte
	// inspect has the bytes hashed looked at too (seen), and from the
	// first one outside ASCII on checked for UTF-8 (utf).
	inspect bool
	seen    textSeen
	utf     utf8Checker
}

// textSeen is what hashing a file's bytes notes besides their digest:
// their line breaks, their last byte, whether one is outside ASCII.
type textSeen struct {
	lines    int64
	last     byte
	nonASCII bool
}

func (t *textSeen) add(p []byte) {
	if len(p) == 0 {
		return
	}
	t.lines += int64(bytes.Count(p, []byte{'\n'}))
	t.nonASCII = t.nonASCII || nonASCII(p) >= 0
	t.last = p[len(p)-1]
}

func newReadHash(f *os.File) *readHash { return &readHash{f: f, h: sha256.New()} }

func (r *readHash) reset() {
	r.h.Reset()
	r.pending = r.pending[:0]
	r.n, r.seen, r.utf = 0, textSeen{}, utf8Checker{}
}

// hashReadBytes counts the bytes readHash read from files itself (tests
// check that a file its decoder feeds is not read again).
var hashReadBytes atomic.Int64

// write hashes p, the file's next bytes as its decoder consumed them. A
// JSON Lines decoder passes a line at a time: short pieces are gathered
// and hashed 64 KiB at a time, as a digest's call per line costs more than
// the copy.
func (r *readHash) write(p []byte) {
	r.n += int64(len(p))
	if r.pending == nil {
		r.pending = make([]byte, 0, 64<<10)
	}
	if len(r.pending)+len(p) > cap(r.pending) {
		r.flush()
		if len(p) >= cap(r.pending)/2 {
			r.h.Write(p)
			return
		}
	}
	r.pending = append(r.pending, p...)
}

// flush hashes the pieces write gathered.
func (r *readHash) flush() {
	r.h.Write(r.pending)
	r.pending = r.pending[:0]
}

// to hashes the file up to offset end, or to its end when it is shorter
// and end is math.MaxInt64, and returns the hash of the bytes hashed.
func (r *readHash) to(end int64) (string, error) {
	r.flush()
	if r.buf == nil && r.n < end {
		r.buf = make([]byte, 256<<10)
	}
	for r.n < end {
		k, err := r.f.ReadAt(r.buf[:min(int64(len(r.buf)), end-r.n)], r.n)
		hashReadBytes.Add(int64(k))
		p := r.buf[:k]
		r.h.Write(p)
		if r.inspect {
			r.seen.add(p)
			if r.seen.nonASCII {
				r.utf.Write(p)
			}
		}
		r.n += int64(k)
		if errors.Is(err, io.EOF) {
			if end == math.MaxInt64 {
				break
			}
			return "", fmt.Errorf("the file ends at byte %d, before %d: it shrank while being read", r.n, end)
		}
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(r.h.Sum(nil)), nil
}

// textReader is what the decoder of a file hashed while read reads: the
// file as it is, counting what it reads. With encoding auto and no BOM it
// looks at the bytes read until the first one outside ASCII (text that is
// ASCII so far reads the same in every encoding auto chooses from), and
// there decides as a file hashed first is decided, by the whole file:
// UTF-8 when it is valid UTF-8, else a decoding, which the bytes from
// there on go through.
type textReader struct {
	f   *os.File
	rs  io.ReadSeeker // f; after a decision for a decoding, its text stream
	pos int64
	// eof is the offset at which f ended when read to its end; -1 before.
	eof       int64
	undecided bool
	decide    func(at int64) (encoding.Encoding, error)
	decoded   bool
}

func (t *textReader) Read(p []byte) (int, error) {
	n, err := t.rs.Read(p)
	if t.undecided && n > 0 {
		if i := nonASCII(p[:n]); i >= 0 {
			at := t.pos + int64(i)
			enc, derr := t.decide(at)
			if derr != nil {
				return 0, derr
			}
			t.undecided = false
			if enc != nil {
				// The text before at is ASCII: decoded, it is the same
				// bytes, so the decoded stream goes on from at.
				ts, serr := newTextStream(t.f, false, enc)
				if serr == nil {
					_, serr = ts.Seek(at, io.SeekStart)
				}
				if serr != nil {
					return 0, serr
				}
				t.rs, t.decoded = ts, true
				if i == 0 {
					return t.Read(p)
				}
				n, err = i, nil
			}
		}
	}
	t.pos += int64(n)
	if errors.Is(err, io.EOF) && !t.decoded {
		t.eof = t.pos
	}
	return n, err
}

// Seek implements io.Seeker as the stream read does.
func (t *textReader) Seek(offset int64, whence int) (int64, error) {
	p, err := t.rs.Seek(offset, whence)
	if err == nil {
		t.pos = p
	}
	return p, err
}

// decideText decides the encoding of a file read with encoding auto whose
// bytes before at are ASCII and whose byte at is not, as reader does for
// a file hashed first: nil (UTF-8) when the file is valid UTF-8.
func (s *Source) decideText(f *os.File, rel string, at int64) (encoding.Encoding, error) {
	valid, err := validUTF8From(f, at)
	if err != nil || valid {
		return nil, err
	}
	ev, err := countUTF8(io.NewSectionReader(f, 0, math.MaxInt64), 0)
	if err != nil {
		return nil, err
	}
	return s.textEvidence(rel, &ev), nil
}

// validUTF8From reports whether f's bytes from offset at, the start of a
// character, are valid UTF-8.
func validUTF8From(f *os.File, at int64) (bool, error) {
	var c utf8Checker
	if _, err := io.CopyBuffer(&c, io.NewSectionReader(f, at, math.MaxInt64-at), make([]byte, 256<<10)); err != nil {
		return false, err
	}
	return c.valid(true), nil
}

// textEvidence picks the decoding of a text that is not valid UTF-8 by ev
// and logs the choice.
func (s *Source) textEvidence(rel string, ev *utf8Evidence) encoding.Encoding {
	if ev.utf8Text() {
		// UTF-8 with bad bytes: x/text's UTF-8 decoder replaces each
		// by U+FFFD, and the rest of the file keeps its characters.
		s.log.Warn(fmt.Sprintf("%s: UTF-8 with %d invalid byte(s), the first on line %d: each replaced by U+FFFD (set csv.encoding to choose another)", rel, ev.invalid, ev.firstLine),
			"file", rel, "encoding", "utf-8", "invalid_bytes", ev.invalid, "first_line", ev.firstLine, "utf8_chars", ev.multi)
		return unicode.UTF8
	}
	s.log.Info(fmt.Sprintf("%s: not UTF-8 (%d bytes outside it, %d UTF-8 characters): read as Windows-1252 (set csv.encoding to choose another)", rel, ev.invalid, ev.multi),
		"file", rel, "encoding", "windows-1252", "invalid_bytes", ev.invalid, "utf8_chars", ev.multi)
	return charmap.Windows1252
}

// nonASCII returns the index of p's first byte outside ASCII, or -1.
func nonASCII(p []byte) int {
	i := 0
	// 32 bytes a step while all are ASCII, then 8, then one.
	for ; i+32 <= len(p); i += 32 {
		q := p[i : i+32]
		if (binary.LittleEndian.Uint64(q)|binary.LittleEndian.Uint64(q[8:])|binary.LittleEndian.Uint64(q[16:])|binary.LittleEndian.Uint64(q[24:]))&0x8080808080808080 != 0 {
			break
		}
	}
	for ; i+8 <= len(p); i += 8 {
		if binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for ; i < len(p); i++ {
		if p[i] >= utf8.RuneSelf {
			return i
		}
	}
	return -1
}
