package jsonfile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// errSyntax marks a line the scanner found malformed; the reject's reason
// then comes from encoding/json, so that it reads as before.
var errSyntax = errors.New("invalid JSON")

// errNotObject rejects a line holding valid JSON that is not an object.
var errNotObject = errors.New("not a JSON object")

// syntaxError explains why line is not a JSON object, in encoding/json's
// words when it is not valid JSON at all. It runs only for rejected lines.
func syntaxError(line []byte) error {
	if !json.Valid(line) {
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			return err
		}
	}
	if p := skipSpace(line, 0); p == len(line) || line[p] != '{' {
		return errNotObject
	}
	return errSyntax // the scanner and encoding/json disagree; the fuzz test guards this
}

// Byte classes inside a JSON string: the bytes that end the fast copy loop.
const (
	plain = iota
	quote
	backslash
	control
	high // a byte of a multi-byte UTF-8 sequence, to validate
)

var stringClass = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = control
	}
	t['"'], t['\\'] = quote, backslash
	for c := 0x80; c < 0x100; c++ {
		t[c] = high
	}
	return t
}()

// scanString checks the JSON string starting with the quote at line[p] and
// returns the index just past its closing quote, and whether its contents
// need unquoting (escapes, or bytes that are not valid UTF-8) rather than
// a plain copy.
func scanString(line []byte, p int) (end int, unquote bool, err error) {
	nonASCII := false
	i := p + 1
	// Eight bytes a step while none is special (a quote, a backslash, a
	// control byte or a high one), then the table below.
	for ; i+8 <= len(line); i += 8 {
		w := binary.LittleEndian.Uint64(line[i:])
		if special := hasZero(w^(swarOnes*'"')) | hasZero(w^(swarOnes*'\\')) | (w-swarOnes*0x20)&^w | w; special&(swarOnes*0x80) != 0 {
			break
		}
	}
	for ; i < len(line); i++ {
		switch stringClass[line[i]] {
		case plain:
		case quote:
			if nonASCII && !unquote && !utf8.Valid(line[p+1:i]) {
				unquote = true
			}
			return i + 1, unquote, nil
		case backslash:
			unquote = true
			i++
			if i >= len(line) {
				return 0, false, errSyntax
			}
			switch line[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if hex4(line[i+1:]) < 0 {
					return 0, false, errSyntax
				}
				i += 4
			default:
				return 0, false, errSyntax
			}
		case control:
			return 0, false, errSyntax
		case high:
			nonASCII = true
		}
	}
	return 0, false, errSyntax
}

const swarOnes = 0x0101010101010101

// hasZero has the high bit of some byte set when a byte of w is zero
// (exact as to whether one is: a borrow makes a false bit only above a
// true one).
func hasZero(w uint64) uint64 { return (w - swarOnes) &^ w }

// hex4 decodes the four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// appendUnquoted appends the text of a string's contents checked by
// scanString, exactly as encoding/json decodes it: escapes resolved, a
// lone or broken surrogate and each byte of invalid UTF-8 as U+FFFD.
func appendUnquoted(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if pair := utf16.DecodeRune(r, hex4(s[i+2:])); pair != utf8.RuneError {
							dst = utf8.AppendRune(dst, pair)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // " \ /
				dst = append(dst, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
		}
	}
	return dst
}

// scanNumber checks the JSON number at line[p] and returns the index just
// past it and whether it is integral (no fraction, no exponent).
func scanNumber(line []byte, p int) (end int, integral bool, err error) {
	i := p
	if line[i] == '-' {
		i++
	}
	switch {
	case i < len(line) && line[i] == '0':
		i++
	case i < len(line) && '1' <= line[i] && line[i] <= '9':
		i = digits(line, i+1)
	default:
		return 0, false, errSyntax
	}
	integral = true
	if i < len(line) && line[i] == '.' {
		integral = false
		j := digits(line, i+1)
		if j == i+1 {
			return 0, false, errSyntax
		}
		i = j
	}
	if i < len(line) && (line[i] == 'e' || line[i] == 'E') {
		integral = false
		i++
		if i < len(line) && (line[i] == '+' || line[i] == '-') {
			i++
		}
		j := digits(line, i)
		if j == i {
			return 0, false, errSyntax
		}
		i = j
	}
	return i, integral, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// parseInt parses an integral number checked by scanNumber; ok is false
// when it does not fit in an int64.
func parseInt(b []byte) (n int64, ok bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) > 18 { // 19 digits may overflow: let the careful parser judge
		return 0, false
	}
	for _, c := range b {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// errTooDeep is nestedEnd's error for a value nested beyond its bound.
var errTooDeep = errors.New("nested too deeply")

// nestedEnd returns the index just past the object or array starting at
// line[p], matching brackets outside strings; encoding/json checks the rest.
// A value nesting more than maxDepth levels is errTooDeep.
func nestedEnd(line []byte, p, maxDepth int) (int, error) {
	depth := 0
	for i := p; i < len(line); i++ {
		switch line[i] {
		case '"':
			end, _, err := scanString(line, i)
			if err != nil {
				return 0, err
			}
			i = end - 1
		case '{', '[':
			depth++
			if depth > maxDepth {
				return 0, errTooDeep
			}
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	return 0, errSyntax
}

// decodeNested decodes an object or array as encoding/json does, numbers
// kept as json.Number.
func decodeNested(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errSyntax
	}
	return v, nil
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	return p
}
