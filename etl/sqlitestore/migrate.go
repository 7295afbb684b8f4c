package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jmoiron/sqlx"

	nsql "github.com/nightjar-etl/nightjar/sql"
)

// migration is one numbered schema change.
type migration = nsql.Migration

// ErrSchemaTooNew is returned by Open when the state database was
// migrated by a newer nightjar than this one.
var ErrSchemaTooNew = errors.New("state database is newer than this nightjar")

// loadMigrations reads dir of fsys: every NNNN_name.sql, by version.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	return nsql.Migrations(fsys, dir)
}

// migrate applies the migrations db lacks, in order, each in its own
// transaction together with its schema_migrations row. Two processes
// opening a fresh file at once are safe: transactions begin IMMEDIATE, so
// the second waits and then sees the version as applied.
func migrate(ctx context.Context, db *sqlx.DB, migrations []migration) error {
	if _, err := db.ExecContext(ctx, stmts.CreateSchemaMigrations); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	known := 0
	if len(migrations) > 0 {
		known = migrations[len(migrations)-1].Version
	}
	var current int
	if err := db.GetContext(ctx, &current, stmts.SchemaVersion); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > known {
		return fmt.Errorf("%w: schema version %d, this nightjar knows up to %d; upgrade nightjar", ErrSchemaTooNew, current, known)
	}
	for _, m := range migrations {
		if m.Version <= current {
			continue
		}
		if err := applyMigration(ctx, db, m); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sqlx.DB, m migration) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: begin: %w", m.Name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.GetContext(ctx, &n, stmts.MigrationApplied, m.Version); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if n > 0 {
		return nil // another process applied it meanwhile
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, stmts.RecordMigration, m.Version, m.Name); err != nil {
		return fmt.Errorf("migration %s: record version: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.Name, err)
	}
	return nil
}
