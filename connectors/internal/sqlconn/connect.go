package sqlconn

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// DefaultConnectTimeout is the default of a connection's connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// ConnectTimeout is the bound a connection puts on connecting, handshake
// included: connect_timeout when configured, else the DSN's own timeout
// (fromDSN, 0 when it has none), else DefaultConnectTimeout.
func ConnectTimeout(configured, fromDSN time.Duration) time.Duration {
	switch {
	case configured > 0:
		return configured
	case fromDSN > 0:
		return fromDSN
	}
	return DefaultConnectTimeout
}

// Ping checks that the server answers within timeout, so that a server
// that accepts and never answers fails the run instead of hanging it.
func Ping(ctx context.Context, db *sqlx.DB, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := db.PingContext(pctx)
	if err != nil && ctx.Err() == nil && pctx.Err() != nil {
		return fmt.Errorf("connect: no answer within %s (connect_timeout)", timeout)
	}
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	return nil
}
