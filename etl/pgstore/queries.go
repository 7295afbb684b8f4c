package pgstore

import (
	"reflect"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl/internal/sqlstore"
)

// statements are the store's own SQL, read from sql/statestore/postgres.sql
// with the statements of sqlstore.Store (there and in shared.sql), in
// PostgreSQL's placeholders ($n): each field holds the block of its name.
type statements struct {
	LockSchema, CreateSchemaMigrations, SchemaVersion, RecordMigration string
	SynchronousCommitOff, Fingerprints, SaveFingerprints               string
}

// stmts and shared are loaded once; the files are embedded, so a fault in
// them fails every test of the package at once.
var stmts, shared = mustLoadStatements()

func mustLoadStatements() (*statements, *sqlstore.Statements) {
	own, common := &statements{}, &sqlstore.Statements{}
	if err := sqlstore.Load([]string{sqlstore.Shared, "statestore/postgres.sql"}, own, common); err != nil {
		panic(err)
	}
	v := reflect.ValueOf(own).Elem()
	for i := range v.NumField() {
		v.Field(i).SetString(sqlx.Rebind(sqlx.DOLLAR, v.Field(i).String()))
	}
	return own, common
}
