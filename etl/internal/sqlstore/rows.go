package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// Time scans a stored time in UTC: a time.Time (PostgreSQL's timestamptz)
// or RFC 3339 text (SQLite's TEXT columns, which database/sql cannot scan
// into time.Time). NULL and "" scan as the zero time.
type Time struct{ time.Time }

// Scan implements sql.Scanner.
func (t *Time) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		t.Time = time.Time{}
		return nil
	case time.Time:
		t.Time = v.UTC()
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("scan time: unexpected %T", src)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("scan time %q: %w", s, err)
	}
	t.Time = parsed.UTC()
	return nil
}

// The row types mirror the etl records with times as Time.

// RunRow is a row of "runs".
type RunRow struct {
	ID        int64  `db:"id"`
	Job       string `db:"job"`
	Trigger   string `db:"trigger"`
	Status    string `db:"status"`
	StartedAt Time   `db:"started_at"`
	EndedAt   Time   `db:"ended_at"`
	etl.Counters
	Error string `db:"error"`
}

// Run returns the row as an etl.Run.
func (r *RunRow) Run() etl.Run {
	return etl.Run{
		ID: r.ID, Job: r.Job, Trigger: r.Trigger, Status: etl.RunStatus(r.Status),
		StartedAt: r.StartedAt.Time, EndedAt: r.EndedAt.Time, Counters: r.Counters, Error: r.Error,
	}
}

type positionRow struct {
	Job       string         `db:"job"`
	Stream    string         `db:"stream"`
	Position  sql.NullString `db:"position"`
	Seq       int64          `db:"seq"`
	Load      string         `db:"load_id"`
	RunID     int64          `db:"run_id"`
	UpdatedAt Time           `db:"updated_at"`
}

func (r *positionRow) checkpoint() etl.Checkpoint {
	var p etl.Position
	if r.Position.Valid {
		p = json.RawMessage(r.Position.String)
	}
	return etl.Checkpoint{
		Job: r.Job, Stream: r.Stream, Position: p, Seq: r.Seq, Load: r.Load, RunID: r.RunID, UpdatedAt: r.UpdatedAt.Time,
	}
}

type fileRow struct {
	Job      string `db:"job"`
	Path     string `db:"path"`
	Size     int64  `db:"size"`
	MTime    Time   `db:"mtime"`
	SHA256   string `db:"sha256"`
	Status   string `db:"status"`
	Rows     int64  `db:"rows"`
	RunID    int64  `db:"run_id"`
	LoadedAt Time   `db:"loaded_at"`
}

func (r *fileRow) record() etl.FileRecord {
	return etl.FileRecord{
		Job: r.Job, Path: r.Path, Size: r.Size, MTime: r.MTime.Time, SHA256: r.SHA256,
		Status: r.Status, Rows: r.Rows, RunID: r.RunID, LoadedAt: r.LoadedAt.Time,
	}
}

type quarantineRow struct {
	ID      int64  `db:"id"`
	Job     string `db:"job"`
	RunID   int64  `db:"run_id"`
	At      Time   `db:"created_at"`
	Step    string `db:"step"`
	Origin  string `db:"origin"`
	Field   string `db:"field"`
	Value   string `db:"value"`
	Reason  string `db:"reason"`
	RowJSON string `db:"row_json"`
}

func (r *quarantineRow) record() etl.QuarantineRecord {
	return etl.QuarantineRecord{
		ID: r.ID, Job: r.Job, RunID: r.RunID, At: r.At.Time, Step: r.Step, Origin: r.Origin,
		Field: r.Field, Value: r.Value, Reason: r.Reason, RowJSON: r.RowJSON,
	}
}

// collect converts rows with conv.
func collect[R, T any](rows []R, conv func(*R) T) []T {
	out := make([]T, len(rows))
	for i := range rows {
		out[i] = conv(&rows[i])
	}
	return out
}
