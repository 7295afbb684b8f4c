package pgstore

import (
	"time"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/internal/sqlstore"
)

// dbTime is t as the store keeps it: UTC, to the microsecond (what
// timestamptz holds), truncated here rather than rounded by the server so
// that a time read back is never later than the time given.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

const runColumns = `"id", "job", "trigger", "status", "started_at", "ended_at",
"rows_read", "rows_written", "rows_skipped", "rows_rejected", "batches", "bytes_read", "error"`

type runRow struct{ sqlstore.RunRow }

func (r *runRow) run() etl.Run { return r.RunRow.Run() }
