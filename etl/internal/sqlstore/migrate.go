package sqlstore

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	nsql "github.com/nightjar-etl/nightjar/sql"
)

// The stores migrate their schemas each in its own transactions (SQLite:
// one per migration, PostgreSQL: one for all under an advisory lock); what
// they do inside is the same.

// Pending creates the table of applied migrations in db (a database or a
// transaction) with create if it lacks it, reads the schema's version
// with version, and returns the migrations of list (by version) that the
// schema lacks. A schema newer than the last of list is an error wrapping
// tooNew, the store's sentinel: a newer nightjar migrated it.
func Pending(ctx context.Context, db sqlx.ExtContext, create, version string, list []nsql.Migration, tooNew error) ([]nsql.Migration, error) {
	if _, err := db.ExecContext(ctx, create); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := sqlx.GetContext(ctx, db, &current, version); err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	known := 0
	if len(list) > 0 {
		known = list[len(list)-1].Version
	}
	if current > known {
		return nil, fmt.Errorf("%w: schema version %d, this nightjar knows up to %d; upgrade nightjar", tooNew, current, known)
	}
	for i, m := range list {
		if m.Version > current {
			return list[i:], nil
		}
	}
	return nil, nil
}

// Apply runs migration m in tx and records its version there with record,
// which binds the version and the file's name.
func Apply(ctx context.Context, tx sqlx.ExecerContext, record string, m nsql.Migration) error {
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, record, m.Version, m.Name); err != nil {
		return fmt.Errorf("migration %s: record version: %w", m.Name, err)
	}
	return nil
}
