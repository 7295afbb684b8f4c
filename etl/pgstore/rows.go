package pgstore

import (
	"database/sql"
	"encoding/json"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// dbTime is t as the store keeps it: UTC, to the microsecond (what
// timestamptz holds), truncated here rather than rounded by the server so
// that a time read back is never later than the time given.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// utc reads a nullable time back; NULL is the zero time.
func utc(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

const runColumns = `"id", "job", "trigger", "status", "started_at", "ended_at",
"rows_read", "rows_written", "rows_skipped", "rows_rejected", "batches", "bytes_read", "error"`

type runRow struct {
	ID        int64        `db:"id"`
	Job       string       `db:"job"`
	Trigger   string       `db:"trigger"`
	Status    string       `db:"status"`
	StartedAt time.Time    `db:"started_at"`
	EndedAt   sql.NullTime `db:"ended_at"`
	etl.Counters
	Error string `db:"error"`
}

func (r *runRow) run() etl.Run {
	return etl.Run{
		ID: r.ID, Job: r.Job, Trigger: r.Trigger, Status: etl.RunStatus(r.Status),
		StartedAt: r.StartedAt.UTC(), EndedAt: utc(r.EndedAt), Counters: r.Counters, Error: r.Error,
	}
}

const positionColumns = `"job", "stream", "position", "seq", "load_id", "run_id", "updated_at"`

type positionRow struct {
	Job       string         `db:"job"`
	Stream    string         `db:"stream"`
	Position  sql.NullString `db:"position"`
	Seq       int64          `db:"seq"`
	Load      string         `db:"load_id"`
	RunID     int64          `db:"run_id"`
	UpdatedAt time.Time      `db:"updated_at"`
}

func (r *positionRow) checkpoint() etl.Checkpoint {
	var p etl.Position
	if r.Position.Valid {
		p = json.RawMessage(r.Position.String)
	}
	return etl.Checkpoint{
		Job: r.Job, Stream: r.Stream, Position: p, Seq: r.Seq, Load: r.Load, RunID: r.RunID, UpdatedAt: r.UpdatedAt.UTC(),
	}
}

const fileColumns = `"job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at"`

type fileRow struct {
	Job      string    `db:"job"`
	Path     string    `db:"path"`
	Size     int64     `db:"size"`
	MTime    time.Time `db:"mtime"`
	SHA256   string    `db:"sha256"`
	Status   string    `db:"status"`
	Rows     int64     `db:"rows"`
	RunID    int64     `db:"run_id"`
	LoadedAt time.Time `db:"loaded_at"`
}

func (r *fileRow) record() etl.FileRecord {
	return etl.FileRecord{
		Job: r.Job, Path: r.Path, Size: r.Size, MTime: r.MTime.UTC(), SHA256: r.SHA256,
		Status: r.Status, Rows: r.Rows, RunID: r.RunID, LoadedAt: r.LoadedAt.UTC(),
	}
}

const quarantineColumns = `"id", "job", "run_id", "created_at", "step", "origin",
"field", "value", "reason", "row_json"`

type quarantineRow struct {
	ID      int64     `db:"id"`
	Job     string    `db:"job"`
	RunID   int64     `db:"run_id"`
	At      time.Time `db:"created_at"`
	Step    string    `db:"step"`
	Origin  string    `db:"origin"`
	Field   string    `db:"field"`
	Value   string    `db:"value"`
	Reason  string    `db:"reason"`
	RowJSON string    `db:"row_json"`
}

func (r *quarantineRow) record() etl.QuarantineRecord {
	return etl.QuarantineRecord{
		ID: r.ID, Job: r.Job, RunID: r.RunID, At: r.At.UTC(), Step: r.Step, Origin: r.Origin,
		Field: r.Field, Value: r.Value, Reason: r.Reason, RowJSON: r.RowJSON,
	}
}
