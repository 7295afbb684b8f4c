package sqlitestore

import (
	"database/sql"
	"encoding/json"

	"github.com/nightjar-etl/nightjar/etl"
)

// The row types mirror the etl records with times as dbTime, which
// database/sql cannot scan into time.Time from TEXT.

type runRow struct {
	ID        int64  `db:"id"`
	Job       string `db:"job"`
	Trigger   string `db:"trigger"`
	Status    string `db:"status"`
	StartedAt dbTime `db:"started_at"`
	EndedAt   dbTime `db:"ended_at"`
	etl.Counters
	Error string `db:"error"`
}

func (r *runRow) run() etl.Run {
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
	UpdatedAt dbTime         `db:"updated_at"`
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
	MTime    dbTime `db:"mtime"`
	SHA256   string `db:"sha256"`
	Status   string `db:"status"`
	Rows     int64  `db:"rows"`
	RunID    int64  `db:"run_id"`
	LoadedAt dbTime `db:"loaded_at"`
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
	At      dbTime `db:"created_at"`
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
