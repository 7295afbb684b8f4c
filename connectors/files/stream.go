package files

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// sniffSize is how much of a gzip file's decompressed text is looked at
// to tell UTF-8 from Windows-1252 (a plain file is checked whole while it
// is hashed).
const sniffSize = 1 << 20

// textEncoding names the decoding a text file needs; "" means UTF-8 as is.
func textEncoding(name string) (encoding.Encoding, error) {
	switch strings.ToLower(strings.ReplaceAll(name, "_", "-")) {
	case "", "auto", "utf-8", "utf8":
		return nil, nil
	case "utf-16le", "utf16le":
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), nil
	case "utf-16be", "utf16be":
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM), nil
	case "windows-1252", "cp1252":
		return charmap.Windows1252, nil
	}
	return nil, fmt.Errorf("unknown encoding %q (use auto, utf-8, utf-16le, utf-16be or windows-1252)", name)
}

// utf8Checker tells whether a stream fed in chunks is valid UTF-8.
type utf8Checker struct {
	carry   []byte
	invalid bool
	head    []byte // the first bytes, for the BOM
}

func (c *utf8Checker) Write(p []byte) (int, error) {
	n := len(p)
	if len(c.head) < 4 {
		c.head = append(c.head, p[:min(len(p), 4-len(c.head))]...)
	}
	if c.invalid {
		return n, nil
	}
	if len(c.carry) > 0 {
		// Complete the character split across writes.
		for len(p) > 0 && !utf8.FullRune(c.carry) {
			c.carry, p = append(c.carry, p[0]), p[1:]
		}
		if !utf8.FullRune(c.carry) {
			return n, nil
		}
		if r, size := utf8.DecodeRune(c.carry); r == utf8.RuneError && size <= 1 {
			c.invalid = true
			return n, nil
		}
		c.carry = c.carry[:0]
	}
	tail := 0
	for i := len(p) - 1; i >= 0 && i > len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				tail = len(p) - i
			}
			break
		}
	}
	if !utf8.Valid(p[:len(p)-tail]) {
		c.invalid = true
		return n, nil
	}
	c.carry = append(c.carry[:0], p[len(p)-tail:]...)
	return n, nil
}

// valid reports whether everything written was valid UTF-8, an incomplete
// character at the very end excepted when final is false.
func (c *utf8Checker) valid(final bool) bool {
	return !c.invalid && (!final || len(c.carry) == 0)
}

// utf8Evidence is what a text that is not valid UTF-8 as a whole says
// about its encoding: its valid multi-byte UTF-8 characters, its bytes
// that are not UTF-8, and the line of the first of those.
type utf8Evidence struct {
	multi, invalid int
	firstLine      int64
}

// utf8Text reports whether the text is UTF-8 with a few bad bytes rather
// than Windows-1252: Windows-1252 text almost never forms a valid
// multi-byte UTF-8 character (é is one byte, 0xE9, followed by ASCII), so
// more valid multi-byte characters than bad bytes means UTF-8. A text
// with neither (ASCII and one odd byte) is read as Windows-1252, which
// decodes every byte and loses nothing.
func (e utf8Evidence) utf8Text() bool { return e.multi > e.invalid }

// countUTF8 reads r to its end, or limit bytes when limit > 0, gathering
// the evidence.
func countUTF8(r io.Reader, limit int64) (utf8Evidence, error) {
	if limit > 0 {
		r = io.LimitReader(r, limit)
	}
	var ev utf8Evidence
	line := int64(1)
	buf := make([]byte, 256<<10)
	carry := 0
	for {
		n, err := io.ReadFull(r, buf[carry:])
		n += carry
		final := err != nil
		p := buf[:n]
		i := 0
		for i < len(p) {
			c := p[i]
			if c < utf8.RuneSelf {
				if c == '\n' {
					line++
				}
				i++
				continue
			}
			if !final && !utf8.FullRune(p[i:]) {
				break // completed by the next read
			}
			if r, size := utf8.DecodeRune(p[i:]); r == utf8.RuneError && size == 1 {
				if ev.invalid == 0 {
					ev.firstLine = line
				}
				ev.invalid++
				i++
			} else {
				ev.multi++
				i += size
			}
		}
		carry = copy(buf, p[i:])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return ev, nil
		}
		if err != nil {
			return ev, err
		}
	}
}

// detect picks the decoding for a text stream from its first bytes and,
// when there is no BOM, whether it is valid UTF-8.
func detect(head []byte, validUTF8 bool) encoding.Encoding {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		return nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM)
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM)
	case validUTF8:
		return nil
	}
	return charmap.Windows1252
}

// isGzip reports whether head starts with the gzip magic number.
func isGzip(head []byte) bool { return len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b }

// textStream is the decoded text of a file (gunzipped, transcoded to
// UTF-8) as an io.ReadSeeker: seeking forward reads and discards, seeking
// back starts over from the file's first byte. Offsets are in the decoded
// text, which is what positions record, so a resume lands on the same
// record.
type textStream struct {
	f    *os.File
	gzip bool
	enc  encoding.Encoding
	r    io.Reader
	pos  int64
}

func newTextStream(f *os.File, gz bool, enc encoding.Encoding) (*textStream, error) {
	s := &textStream{f: f, gzip: gz, enc: enc}
	if err := s.restart(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *textStream) restart() error {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var r io.Reader = bufio.NewReaderSize(s.f, 256<<10)
	if s.gzip {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		r = zr
	}
	if s.enc != nil {
		r = transform.NewReader(r, s.enc.NewDecoder())
	}
	s.r, s.pos = r, 0
	return nil
}

func (s *textStream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.pos += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && s.gzip {
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

// Seek implements io.Seeker for SeekStart and SeekCurrent.
func (s *textStream) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.pos
	default:
		return s.pos, errors.New("a decoded stream has no known end")
	}
	if offset < s.pos {
		if err := s.restart(); err != nil {
			return 0, err
		}
	}
	if offset > s.pos {
		if _, err := io.CopyN(io.Discard, s, offset-s.pos); err != nil {
			return s.pos, fmt.Errorf("skip to offset %d: %w", offset, err)
		}
	}
	return s.pos, nil
}

// sniffGzip reads the start of a gzip file's text to pick its encoding;
// ev is the evidence when that start is not valid UTF-8.
func sniffGzip(f *os.File) (enc encoding.Encoding, ev *utf8Evidence, err error) {
	zr, err := gunzipFrom(f)
	if err != nil {
		return nil, nil, err
	}
	head, err := io.ReadAll(io.LimitReader(zr, sniffSize))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, nil, fmt.Errorf("gzip: %w", err)
	}
	// A truncated file is sniffed on what it has: the decoder meets the
	// cut in its turn, after the rows before it.
	var c utf8Checker
	c.Write(head)
	enc = detect(head, c.valid(len(head) < sniffSize))
	if enc != charmap.Windows1252 {
		return enc, nil, nil
	}
	e, _ := countUTF8(bytes.NewReader(head), 0)
	return enc, &e, nil
}

// gunzipFrom reads f's decompressed text from its start.
func gunzipFrom(f *os.File) (io.Reader, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return zr, nil
}

// plainEvidence is the evidence of a plain file, read whole.
func plainEvidence(f *os.File) (*utf8Evidence, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	ev, err := countUTF8(f, 0)
	return &ev, err
}

// prefixHash digests the first n bytes written to it: what a file held
// when it was last loaded, if it only grew since. It counts their lines
// and keeps their last byte.
type prefixHash struct {
	textSeen
	n, seen int64
	h       hash.Hash
	head    []byte // the first bytes, for the gzip magic
}

func newPrefixHash(n int64) *prefixHash { return &prefixHash{n: n, h: sha256.New()} }

func (p *prefixHash) Write(b []byte) (int, error) {
	if len(p.head) < 2 {
		p.head = append(p.head, b[:min(len(b), 2-len(p.head))]...)
	}
	if rest := p.n - p.seen; rest > 0 {
		part := b[:min(int64(len(b)), rest)]
		p.h.Write(part)
		p.add(part)
		p.seen += int64(len(part))
	}
	return len(b), nil
}

// sum is the prefix's digest in hex; "" when the text was shorter.
func (p *prefixHash) sum() string {
	if p.seen != p.n {
		return ""
	}
	return hex.EncodeToString(p.h.Sum(nil))
}

// matches reports whether the prefix is whole lines with the digest sum.
func (p *prefixHash) matches(sum string) bool {
	return p.seen == p.n && p.last == '\n' && hex.EncodeToString(p.h.Sum(nil)) == sum
}
