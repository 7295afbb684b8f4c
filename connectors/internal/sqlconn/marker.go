package sqlconn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// MarkerTable is the table in the target database recording which append
// batches were loaded, so that a batch replayed after a crash is skipped.
const MarkerTable = "_nightjar_batches"

// Querier is what the marker functions need of a transaction (*sql.Tx,
// *sqlx.Tx).
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Marker is one loaded batch.
type Marker struct {
	Job      string
	Target   string
	BatchKey string // etl.BatchKey
	// Table is the table the batch was loaded into: a marker vouches for
	// that table only, and is removed when the table is created anew or
	// replaced (ClearMarkers).
	Table    string
	RunID    int64
	Rows     int64
	LoadedAt time.Time
}

// markerTableColumn is the marker table's column naming the loaded table,
// added to marker tables made before it existed.
const markerTableColumn = "table_name"

// markerIdent quotes the marker table's constant, valid names ("rows" is a
// reserved word in MySQL).
func markerIdent(d Dialect, name string) string {
	q, _ := d.QuoteIdent(name)
	return q
}

// CreateMarkerTable returns the statement creating MarkerTable if missing,
// its key columns of the dialect's key string type (see KeyTyper).
func CreateMarkerTable(d Dialect) string {
	text, integer := keyColumnType(d, etl.Field{Type: etl.TypeString}), d.ColumnType(etl.Field{Type: etl.TypeInt})
	q := func(n string) string { return markerIdent(d, n) }
	return "CREATE TABLE IF NOT EXISTS " + q(MarkerTable) + " (" +
		q("job") + " " + text + " NOT NULL, " +
		q("target") + " " + text + " NOT NULL, " +
		q("batch_key") + " " + text + " NOT NULL, " +
		q(markerTableColumn) + " " + text + " NOT NULL DEFAULT '', " +
		q("run_id") + " " + integer + ", " +
		q("rows") + " " + integer + ", " +
		q("loaded_at") + " " + d.ColumnType(etl.Field{Type: etl.TypeString}) + ", " +
		"PRIMARY KEY (" + q("job") + ", " + q("target") + ", " + q("batch_key") + "))"
}

// ClaimBatch records m in the caller's transaction and reports true, or
// reports false when the batch was loaded before: the caller then skips
// it. Run it in the transaction that inserts the batch's rows, so that
// rows and marker commit together or not at all.
func ClaimBatch(ctx context.Context, q Querier, d Dialect, m Marker) (bool, error) {
	id := func(n string) string { return markerIdent(d, n) }
	where := " WHERE " + id("job") + " = " + d.Placeholder(1) + " AND " + id("target") + " = " + d.Placeholder(2) + " AND " + id("batch_key") + " = " + d.Placeholder(3)
	var table string
	err := q.QueryRowContext(ctx, "SELECT "+id(markerTableColumn)+" FROM "+id(MarkerTable)+where,
		m.Job, m.Target, m.BatchKey).Scan(&table)
	switch {
	case err == nil && (table == m.Table || table == ""):
		// Loaded into this table (a marker made before markers named
		// their table vouches as it did).
		return false, nil
	case err == nil:
		// The target wrote another table then (its table: was changed):
		// that marker vouches for nothing here, and this load takes it.
		if _, err := q.ExecContext(ctx, "DELETE FROM "+id(MarkerTable)+where, m.Job, m.Target, m.BatchKey); err != nil {
			return false, fmt.Errorf("replace batch marker: %w", err)
		}
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("read batch marker: %w", err)
	}
	cols := []string{"job", "target", "batch_key", markerTableColumn, "run_id", "rows", "loaded_at"}
	query := "INSERT INTO " + id(MarkerTable) + " ("
	values := ""
	for i, c := range cols {
		if i > 0 {
			query += ", "
			values += ", "
		}
		query += id(c)
		values += d.Placeholder(i + 1)
	}
	_, err = q.ExecContext(ctx, query+") VALUES ("+values+")",
		m.Job, m.Target, m.BatchKey, m.Table, m.RunID, m.Rows, m.LoadedAt.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return false, fmt.Errorf("write batch marker: %w", err)
	}
	return true, nil
}

// ClearMarkers removes the markers of table (whatever job or target
// recorded them) and, for markers made before they named their table, those
// of job's target: none of them may skip a batch once the table was
// created anew or replaced, since the rows they vouch for are gone.
func ClearMarkers(ctx context.Context, q Querier, d Dialect, table, job, target string) (int64, error) {
	id := func(n string) string { return markerIdent(d, n) }
	res, err := q.ExecContext(ctx, "DELETE FROM "+id(MarkerTable)+" WHERE "+id(markerTableColumn)+" = "+d.Placeholder(1)+
		" OR (COALESCE("+id(markerTableColumn)+", '') = '' AND "+id("job")+" = "+d.Placeholder(2)+" AND "+id("target")+" = "+d.Placeholder(3)+")",
		table, job, target)
	if err != nil {
		return 0, fmt.Errorf("clear batch markers of %s: %w", table, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
