package sqlconn

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nightjar-etl/nightjar/etl"
)

// Dialect is what differs between SQL databases for a table target.
type Dialect interface {
	// Name is the database's name for messages ("sqlite").
	Name() string
	// QuoteIdent returns name quoted as an identifier, embedded quote
	// characters escaped; an error for a name the database cannot hold
	// (empty, too long, a NUL byte). Implementations usually call Quote.
	QuoteIdent(name string) (string, error)
	// IdentKey folds an identifier the way the database compares them
	// (SQLite and MySQL: ASCII case-insensitive; PostgreSQL quoted:
	// exact), so that a batch field and a table column can be matched.
	IdentKey(name string) string
	// ColumnType is the column type field f is created with (its type,
	// and a decimal's precision and scale): etl.SQLColumnType's.
	ColumnType(f etl.Field) string
	// Placeholder is the n-th (1-based) bind parameter: "?" or "$n".
	Placeholder(n int) string
	// MaxParams is the number of bind parameters one statement may hold.
	MaxParams() int
	// UpsertClause is appended to a multi-row INSERT to update the rows
	// whose key already exists: keys and updates are quoted column names;
	// updates may be empty (every column is a key: do nothing).
	UpsertClause(keys, updates []string) string
}

// ErrBadIdentifier is wrapped by the errors of QuoteIdent.
var ErrBadIdentifier = errors.New("bad identifier")

// Quote quotes name with the quote character q, doubling embedded quote
// characters. maxBytes > 0 limits the name's length in bytes (PostgreSQL
// 63, MySQL 64); a longer name is an error rather than a silent truncation,
// which would make two long names collide.
func Quote(name string, q byte, maxBytes int) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("%w: empty name", ErrBadIdentifier)
	case strings.IndexByte(name, 0) >= 0:
		return "", fmt.Errorf("%w: %q contains a NUL byte", ErrBadIdentifier, name)
	case !utf8.ValidString(name):
		return "", fmt.Errorf("%w: %q is not valid UTF-8", ErrBadIdentifier, name)
	case maxBytes > 0 && len(name) > maxBytes:
		return "", fmt.Errorf("%w: %q is %d bytes long, the database allows at most %d; rename the field or table", ErrBadIdentifier, name, len(name), maxBytes)
	}
	quote := string(q)
	return quote + strings.ReplaceAll(name, quote, quote+quote) + quote, nil
}

// QuoteAll quotes every name, stopping at the first error.
func QuoteAll(d Dialect, names []string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		q, err := d.QuoteIdent(n)
		if err != nil {
			return nil, err
		}
		out[i] = q
	}
	return out, nil
}

// FoldASCII lowers ASCII letters only, as SQLite and MySQL compare
// identifiers; for IdentKey implementations.
func FoldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
