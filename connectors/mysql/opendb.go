package mysql

import (
	"context"

	"github.com/jmoiron/sqlx"
)

// OpenDB opens a pool on the connection's database for components that
// are not sources or targets, such as the lookup step; baseDir is unused.
// Errors never quote the DSN.
func (c *ConnConfig) OpenDB(ctx context.Context, _ string) (*sqlx.DB, error) {
	return c.open(ctx, "", false)
}

// QuoteIdent quotes a name as this database does, for components that
// build their own queries on OpenDB (the lookup step).
func (c *ConnConfig) QuoteIdent(name string) (string, error) { return Dialect{}.QuoteIdent(name) }
