package sql

import "embed"

// StatePostgresMigrations holds the PostgreSQL state store's schema
// migrations as state_postgres/NNNN_name.sql, numbered and applied as
// StateMigrations are. They run with search_path set to the store's
// schema, so they name no schema.
//
//go:embed state_postgres/*.sql
var StatePostgresMigrations embed.FS
