package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/jmoiron/sqlx"
)

// OpenDB opens the connection's existing database file (relative to
// baseDir) for components that only read from it, such as the lookup
// step: unlike a target, it does not create a missing file.
func (c *ConnConfig) OpenDB(ctx context.Context, baseDir string) (*sqlx.DB, error) {
	if err := ValidateConnection(c, baseDir); err != nil {
		return nil, err
	}
	path := resolvePath(c.Path, baseDir)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: no such database file", path)
	}
	return openDB(ctx, path)
}

// QuoteIdent quotes a name as this database does, for components that
// build their own queries on OpenDB (the lookup step).
func (c *ConnConfig) QuoteIdent(name string) (string, error) { return Dialect{}.QuoteIdent(name) }
