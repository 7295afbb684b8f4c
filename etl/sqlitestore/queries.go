package sqlitestore

import (
	"github.com/nightjar-etl/nightjar/etl/internal/sqlstore"
)

// statements are the store's own SQL, read from sql/statestore/sqlite.sql
// with the statements of sqlstore.Store (there and in shared.sql): each
// field holds the block of its name. Every field must have a block and every block a field, so a
// statement cannot be renamed on one side only.
type statements struct {
	JournalMode, SynchronousNormal, SynchronousFull string
	CreateSchemaMigrations, SchemaVersion           string
	MigrationApplied, RecordMigration               string
	Fingerprints, SaveFingerprints                  string
}

// stmts and shared are loaded once; the file is embedded, so a fault in it
// fails every test of the package at once.
var stmts, shared = mustLoadStatements()

func mustLoadStatements() (*statements, *sqlstore.Statements) {
	own, common, err := loadStatements(sqlstore.Shared, "statestore/sqlite.sql")
	if err != nil {
		panic(err)
	}
	return own, common
}

func loadStatements(files ...string) (*statements, *sqlstore.Statements, error) {
	own, common := &statements{}, &sqlstore.Statements{}
	if err := sqlstore.Load(files, own, common); err != nil {
		return nil, nil, err
	}
	return own, common, nil
}
