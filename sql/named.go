package sql

import (
	"embed"
	"fmt"
	"strings"
)

// StateStatements holds the state stores' statements, one file per
// dialect (statestore/sqlite.sql, postgres.sql) and one of those both run
// as written (statestore/shared.sql), as named blocks (see Named).
//
//go:embed statestore/*.sql
var StateStatements embed.FS

// namePrefix starts a named block.
const namePrefix = "-- name:"

// Named splits text into its named blocks: a line "-- name: X" starts the
// statement X, which runs to the next such line. Comment lines ("--") are
// dropped from the statements, so a statement's documentation stays in the
// file and what runs is the SQL alone; text before the first block is the
// file's preamble. A name given twice or a block without SQL is an error
// naming its line.
func Named(text string) (map[string]string, error) {
	out := map[string]string{}
	var (
		name  string
		start int
		body  strings.Builder
	)
	flush := func() error {
		if name == "" {
			return nil
		}
		stmt := strings.TrimSpace(body.String())
		if stmt == "" {
			return fmt.Errorf("line %d: statement %s has no SQL", start, name)
		}
		out[name] = strings.TrimSuffix(stmt, ";")
		body.Reset()
		return nil
	}
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if n, ok := strings.CutPrefix(trimmed, namePrefix); ok {
			if err := flush(); err != nil {
				return nil, err
			}
			name, start = strings.TrimSpace(n), i+1
			if name == "" {
				return nil, fmt.Errorf("line %d: a statement without a name", start)
			}
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("line %d: statement %s named twice", start, name)
			}
			continue
		}
		if name == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		body.WriteString(line)
		body.WriteByte('\n')
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
