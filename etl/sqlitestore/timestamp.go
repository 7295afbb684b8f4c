package sqlitestore

import "time"

// timeLayout is how every time is stored: UTC, fixed width, nanoseconds.
// It is valid RFC 3339, parses back to the same instant, and sorts the
// same as text and as time (RFC3339Nano trims trailing zeros and would
// not: "…:05Z" sorts after "…:05.1Z").
//
// Times are stored as TEXT columns and bound as strings, never as
// time.Time: go-sqlite3 would format those its own way and parse columns
// declared DATETIME back in a zone of its choosing.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// formatTime returns t as stored (the dialect's sqlstore.Dialect.Time).
func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}
