package sqlitestore

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// timeLayout is how every time is stored: UTC, fixed width, nanoseconds.
// It is valid RFC 3339, parses back to the same instant, and sorts the
// same as text and as time (RFC3339Nano trims trailing zeros and would
// not: "…:05Z" sorts after "…:05.1Z").
//
// Times are stored as TEXT columns and bound as strings, never as
// time.Time: go-sqlite3 would format those its own way and parse columns
// declared DATETIME back in a zone of its choosing.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// formatTime returns t as stored.
func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// nullTime returns t as stored, or NULL for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

// dbTime scans a stored time; NULL and "" scan as the zero time.
type dbTime struct{ time.Time }

// Scan implements sql.Scanner.
func (t *dbTime) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		t.Time = time.Time{}
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("scan time: unexpected %T", src)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("scan time %q: %w", s, err)
	}
	t.Time = parsed.UTC()
	return nil
}

// Value implements driver.Valuer, so a dbTime can be bound as well.
func (t dbTime) Value() (driver.Value, error) {
	return nullTime(t.Time), nil
}
