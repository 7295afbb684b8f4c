package sql

import "embed"

// StateMigrations holds the state store's schema migrations as
// state/NNNN_name.sql. Versions are the numeric prefixes; they are applied
// in ascending order, each once, and a released file is never edited: a
// schema change is a new file with the next number.
//
//go:embed state/*.sql
var StateMigrations embed.FS
