package mysql

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
)

// TestSilentServerTimesOut: a DSN pointing at a port that accepts and
// never answers hung the run for minutes. Connecting is bounded by
// connect_timeout, and the error says so.
func TestSilentServerTimesOut(t *testing.T) {
	sqlconntest.CheckSilentServerTimesOut(t, func(addr string) (*sqlx.DB, error) {
		c := &ConnConfig{DSN: "u@tcp(" + addr + ")/db", ConnectTimeout: 300 * time.Millisecond}
		return c.open(context.Background(), "", false)
	})
}
