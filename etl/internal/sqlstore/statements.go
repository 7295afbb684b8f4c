package sqlstore

import (
	"fmt"
	"reflect"
	"strings"

	nsql "github.com/nightjar-etl/nightjar/sql"
)

// Statements are the SQL of the operations Store carries out, one field a
// named block of a dialect's file, with ? placeholders, bound in the order
// Store binds them. A dialect writes each its own way (SQLite's and
// PostgreSQL's upserts of staged files differ, PostgreSQL's reads lock
// rows and leave out the runs of partitions); the parameters are the same.
type Statements struct {
	LedgerEntry, LedgerHoldsSize, LastLoaded, Files string
	Checkpoint, Checkpoints                         string
	// CheckpointsForReset is Checkpoints, locking the rows it reads.
	CheckpointsForReset string
	// LockJob serialises the transactions that begin runs of a job, where
	// the database does not (SQLite has one writer at a time).
	LockJob                                               string `sql:"optional"`
	InterruptStaleRuns, BeginRun, CommitCounters          string
	DiscardStagedQuarantineOfJob, DiscardStagedFilesOfJob string
	DiscardStagedQuarantineOfRun, DiscardStagedFilesOfRun string
	RunStatus, RunJobStatus                               string
	StageFile, QuarantineStaged, LedgerStaged             string
	UpsertPosition, UpsertFile                            string
	InsertQuarantine, InsertStagedQuarantine              string
	EndRun, Runs, JobRuns, Run                            string
	RunQuarantineCount, RunQuarantine, Quarantined        string
	ResetPositions, ResetFiles, ResetFingerprints         string
	AcquireLease, ReleaseLease, LeaseHolder               string
	AllFingerprints                                       string
}

// Shared is the file of the statements both dialects run as written.
const Shared = "statestore/shared.sql"

// Load reads the named blocks of files of sql.StateStatements (Shared and
// statestore/<dialect>.sql) into the string fields of dsts, pointers to
// structs: each field takes the block of its name. A name may stand in one
// file only. Every field must have a block, unless it is tagged
// sql:"optional", and every block a field, so that a statement cannot be
// renamed on one side only.
func Load(files []string, dsts ...any) error {
	named := map[string]string{}
	from := map[string]string{}
	for _, file := range files {
		text, err := nsql.StateStatements.ReadFile(file)
		if err != nil {
			return fmt.Errorf("state store statements: %w", err)
		}
		blocks, err := nsql.Named(string(text))
		if err != nil {
			return fmt.Errorf("state store statements %s: %w", file, err)
		}
		for name, q := range blocks {
			if other, dup := from[name]; dup {
				return fmt.Errorf("state store statements: %s is in %s and in %s", name, other, file)
			}
			named[name], from[name] = q, file
		}
	}
	for _, dst := range dsts {
		v := reflect.ValueOf(dst).Elem()
		for i := range v.NumField() {
			f := v.Type().Field(i)
			q, ok := named[f.Name]
			if !ok && f.Tag.Get("sql") != "optional" {
				return fmt.Errorf("state store statements %v: no statement %s", files, f.Name)
			}
			v.Field(i).SetString(q)
			delete(named, f.Name)
		}
	}
	for name := range named {
		return fmt.Errorf("state store statements %s: statement %s is not used", from[name], name)
	}
	return nil
}

// rebound returns st with every statement in the placeholders of bind
// (sqlx.Rebind's).
func rebound(st *Statements, bind func(string) string) Statements {
	out := *st
	v := reflect.ValueOf(&out).Elem()
	for i := range v.NumField() {
		v.Field(i).SetString(bind(v.Field(i).String()))
	}
	return out
}

// RepeatValues returns stmt with its VALUES tuple repeated n times: the
// statement for n rows at once (n ≥ 1).
func RepeatValues(stmt string, n int) string {
	i := strings.Index(stmt, "VALUES (")
	if i < 0 || n <= 1 {
		return stmt
	}
	i += len("VALUES ")
	j := i + strings.IndexByte(stmt[i:], ')') + 1
	return stmt[:j] + strings.Repeat(", "+stmt[i:j], n-1) + stmt[j:]
}
