// Package roundtrip holds only the round-trip test of the SQL connectors:
// random values of every field type copied between every ordered pair of
// PostgreSQL, MariaDB and SQLite, in append and merge, each checked to
// arrive exactly. It has no code of its own.
package roundtrip
