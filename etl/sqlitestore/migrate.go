package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl/internal/sqlstore"
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
	pending, err := sqlstore.Pending(ctx, db, stmts.CreateSchemaMigrations, stmts.SchemaVersion, migrations, ErrSchemaTooNew)
	if err != nil {
		return err
	}
	for _, m := range pending {
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
	if err := sqlstore.Apply(ctx, tx, stmts.RecordMigration, m); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.Name, err)
	}
	return nil
}
