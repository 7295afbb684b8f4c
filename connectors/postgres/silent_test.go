package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
)

// TestSilentServerTimesOut: a DSN pointing at a port that accepts and
// never answers hung the run for minutes (190 s until killed). Connecting
// is bounded by connect_timeout, and the error says so.
func TestSilentServerTimesOut(t *testing.T) {
	sqlconntest.CheckSilentServerTimesOut(t, func(addr string) (*sqlx.DB, error) {
		c := &ConnConfig{DSN: "postgres://u@" + addr + "/db?sslmode=disable", ConnectTimeout: 300 * time.Millisecond}
		return c.open(context.Background(), "")
	})
}
