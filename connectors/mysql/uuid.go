package mysql

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"

	"github.com/nightjar-etl/nightjar/etl"
)

// nativeUUID reports whether a server of version (SELECT VERSION():
// "10.11.19-MariaDB-0+deb12u1", "8.0.36") has a UUID column type:
// MariaDB 10.7 and later. MySQL has none.
func nativeUUID(version string) bool {
	if !strings.Contains(version, "MariaDB") {
		return false
	}
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (major > 10 || major == 10 && minor >= 7)
}

// ColumnTypeOn is the column type field f is created with on a server of
// version: Dialect.ColumnType's, but UUID for a uuid on MariaDB 10.7 and
// later (CHAR(36) elsewhere).
func ColumnTypeOn(version string, f etl.Field) string {
	if f.Type == etl.TypeUUID && nativeUUID(version) {
		return "UUID"
	}
	return Dialect{}.ColumnType(f)
}

// serverVersion asks the server its version.
func serverVersion(ctx context.Context, q sqlx.QueryerContext) (string, error) {
	var v string
	if err := sqlx.GetContext(ctx, q, &v, "SELECT VERSION()"); err != nil {
		return "", fmt.Errorf("read the server version: %w", err)
	}
	return v, nil
}

// uuidColumns lists the columns of table (in the connection's database)
// of MariaDB's UUID type, which the driver reports as CHAR: a source reads
// them as uuid fields.
func uuidColumns(ctx context.Context, q sqlx.QueryerContext, table string) (map[string]bool, error) {
	var names []string
	if err := sqlx.SelectContext(ctx, q, &names,
		"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND DATA_TYPE = 'uuid'", table); err != nil {
		return nil, fmt.Errorf("read the UUID columns of %q: %w", table, err)
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

// checkUUIDs refuses a batch holding a uuid that a MariaDB UUID column of
// the table (types: column data types by IdentKey) would refuse, naming
// its row, field and value: MariaDB's UUID type takes not every 128 bits
// PostgreSQL's uuid does (ffd8293b-8d01-ff0d-8020-462d03b56b5e, for one),
// and its own error names no row. The server itself judges, CAST(? AS
// UUID) being NULL for a value it refuses: one query per 1000 values.
func (b *backend) checkUUIDs(ctx context.Context, q sqlx.QueryerContext, batch *etl.Batch, types map[string]string) error {
	type cell struct{ col, row int }
	var cells []cell
	for c := range batch.Cols {
		col := &batch.Cols[c]
		if col.Type != etl.TypeUUID || types[b.IdentKey(batch.Schema.Field(c).Name)] != "uuid" {
			continue
		}
		for r, null := range col.Null {
			if !null {
				cells = append(cells, cell{c, r})
			}
		}
	}
	for lo := 0; lo < len(cells); lo += 1000 {
		chunk := cells[lo:min(lo+1000, len(cells))]
		exprs := make([]string, len(chunk))
		args := make([]any, len(chunk))
		refused := make([]bool, len(chunk))
		ptrs := make([]any, len(chunk))
		for i, c := range chunk {
			exprs[i], args[i], ptrs[i] = "CAST(? AS UUID) IS NULL", batch.Cols[c.col].Str[c.row], &refused[i]
		}
		if err := q.QueryRowxContext(ctx, "SELECT "+strings.Join(exprs, ", "), args...).Scan(ptrs...); err != nil {
			return fmt.Errorf("check uuids: %w", err)
		}
		for i, c := range chunk {
			if refused[i] {
				return etl.Permanent(&sqlconn.UnrepresentableError{Origin: batch.Origins[c.row], Field: batch.Schema.Field(c.col).Name,
					Value: batch.Cols[c.col].Str[c.row], Column: "MariaDB UUID", Why: "MariaDB's UUID type refuses it, though it is a UUID's text"})
			}
		}
	}
	return nil
}
