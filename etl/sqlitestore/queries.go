package sqlitestore

import (
	"fmt"
	"reflect"
	"strings"

	nsql "github.com/nightjar-etl/nightjar/sql"
)

// statements are the store's SQL, read from sql/statestore/sqlite.sql: each
// field holds the block of its name. Every field must have a block and
// every block a field, so a statement cannot be renamed on one side only.
type statements struct {
	JournalMode, SynchronousNormal, SynchronousFull       string
	CreateSchemaMigrations, SchemaVersion                 string
	MigrationApplied, RecordMigration                     string
	LedgerEntry, LastLoaded, Files                        string
	Checkpoint, Checkpoints                               string
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
	Fingerprints, SaveFingerprints                        string
}

// stmts is loaded once; the file is embedded, so a fault in it fails every
// test of the package at once.
var stmts = mustLoadStatements()

func mustLoadStatements() *statements {
	s, err := loadStatements("statestore/sqlite.sql")
	if err != nil {
		panic(err)
	}
	return s
}

func loadStatements(file string) (*statements, error) {
	text, err := nsql.StateStatements.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("state store statements: %w", err)
	}
	named, err := nsql.Named(string(text))
	if err != nil {
		return nil, fmt.Errorf("state store statements %s: %w", file, err)
	}
	s := &statements{}
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		q, ok := named[name]
		if !ok {
			return nil, fmt.Errorf("state store statements %s: no statement %s", file, name)
		}
		v.Field(i).SetString(q)
		delete(named, name)
	}
	for name := range named {
		return nil, fmt.Errorf("state store statements %s: statement %s is not used", file, name)
	}
	return s, nil
}

// repeatValues returns stmt with its VALUES tuple repeated n times: the
// statement for n rows at once (n ≥ 1).
func repeatValues(stmt string, n int) string {
	i := strings.Index(stmt, "VALUES (")
	if i < 0 || n <= 1 {
		return stmt
	}
	i += len("VALUES ")
	j := i + strings.IndexByte(stmt[i:], ')') + 1
	return stmt[:j] + strings.Repeat(", "+stmt[i:j], n-1) + stmt[j:]
}
