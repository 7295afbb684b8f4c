package duckdb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// stageTable is the temporary table a merge (or an append whose columns
// are of other types than the batch's fields) appends a batch to; it is
// the connection's own and is dropped once the batch is in the table.
const stageTable = "_nightjar_stage"

// loadPlan is how batches of one schema go into one table.
type loadPlan struct {
	schema *etl.Schema
	table  string
	keys   []string
	// direct: the Appender writes the table itself (an append whose
	// columns have the fields' types); otherwise rows are staged and
	// inserted from the stage, DuckDB casting them to the columns' types.
	direct bool
	// createStage and insert are the statements of a staged load.
	createStage, insert string
}

// Load appends the batch's rows to table through DuckDB's Appender, in the
// transaction open on conn; with keys, or when the table's columns are of
// other types than the fields, into a temporary table first, then inserted
// (upserted on the keys, the last row per key winning) from it.
func (b *backend) Load(ctx context.Context, conn *sqlx.Conn, _ *sqlx.Tx, table string, batch *etl.Batch, keys []string) error {
	p, err := b.planFor(ctx, conn, table, batch.Schema, keys)
	if err != nil {
		return err
	}
	if p.direct {
		return appendRows(ctx, conn, "", table, batch)
	}
	if _, err := conn.ExecContext(ctx, p.createStage); err != nil {
		return fmt.Errorf("create staging table: %w", err)
	}
	if err := appendRows(ctx, conn, "temp", stageTable, batch); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, p.insert); err != nil {
		if len(keys) > 0 {
			return fmt.Errorf("upsert from staging table: %w", err)
		}
		return fmt.Errorf("insert from staging table: %w", err)
	}
	return nil
}

// planFor returns the plan for batches of s into table, reading the
// table's column types when the schema or table changed.
func (b *backend) planFor(ctx context.Context, q sqlx.QueryerContext, table string, s *etl.Schema, keys []string) (*loadPlan, error) {
	if p := b.plan; p != nil && p.table == table && len(p.keys) == len(keys) && (p.schema == s || p.schema.Equal(s)) {
		p.schema = s
		return p, nil
	}
	cols, err := readColumns(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	types := make(map[string]string, len(cols))
	for _, c := range cols {
		types[b.IdentKey(c.Name)] = c.Type
	}
	p := &loadPlan{schema: s, table: table, keys: keys, direct: len(keys) == 0}
	for i := range s.Len() {
		f := s.Field(i)
		if types[b.IdentKey(f.Name)] != b.ColumnType(f.Type) {
			p.direct = false
		}
	}
	if !p.direct {
		if p.createStage, err = sqlconn.CreateTable(b, stageTable, s); err != nil {
			return nil, err
		}
		p.createStage = strings.Replace(p.createStage, "CREATE TABLE", "CREATE OR REPLACE TEMPORARY TABLE", 1)
		if p.insert, err = b.insertFromStage(table, s.Names(), keys); err != nil {
			return nil, err
		}
	}
	b.plan = p
	return p, nil
}

// insertFromStage is the INSERT of the staged rows into table; with keys,
// the upsert of the last staged row per key (the stage keeps the order
// rows were appended in: its rowid).
func (b *backend) insertFromStage(table string, names, keys []string) (string, error) {
	ins, err := sqlconn.NewInsert(b, table, names, keys)
	if err != nil {
		return "", err
	}
	cols, err := sqlconn.QuoteAll(b, names)
	if err != nil {
		return "", err
	}
	stage, _ := b.QuoteIdent(stageTable)
	prefix, upsert := ins.Parts()
	query := strings.TrimSuffix(prefix, " VALUES ") + " SELECT " + strings.Join(cols, ", ") + " FROM temp.main." + stage
	if len(keys) > 0 {
		qk, err := sqlconn.QuoteAll(b, keys)
		if err != nil {
			return "", err
		}
		query += " QUALIFY row_number() OVER (PARTITION BY " + strings.Join(qk, ", ") + " ORDER BY rowid DESC) = 1"
	}
	return query + upsert, nil
}

// appendRows appends the batch's rows to catalog's table through an
// Appender on conn's driver connection, in its open transaction. The
// Appender names its table and columns as they are, not as SQL: nothing
// is quoted, nothing can be injected.
func appendRows(ctx context.Context, conn *sqlx.Conn, catalog, table string, batch *etl.Batch) error {
	names := batch.Schema.Names()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("driver connection is %T, want a driver.Conn", dc)
		}
		a, err := duckdb.NewAppenderWithColumns(c, catalog, "", table, names)
		if err != nil {
			return fmt.Errorf("appender on %s: %w", table, err)
		}
		if err := appendBatch(ctx, a, batch); err != nil {
			_ = a.Clear()
			_ = a.Close()
			return err
		}
		if err := a.CloseWithCancel(ctx); err != nil {
			return fmt.Errorf("append rows %s to %s: %w", batch.Origins[0], batch.Origins[batch.Len()-1], err)
		}
		return nil
	})
}

// appendBatch hands each row to the Appender, its values converted from
// the batch's column vectors into one reused slice.
func appendBatch(ctx context.Context, a *duckdb.Appender, batch *etl.Batch) error {
	row := make([]driver.Value, len(batch.Cols))
	for r := range batch.Len() {
		if r%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		for c := range batch.Cols {
			v, err := value(&batch.Cols[c], r)
			if err != nil {
				return fmt.Errorf("row %s, field %q: %w", batch.Origins[r], batch.Schema.Field(c).Name, err)
			}
			row[c] = v
		}
		if err := a.AppendRow(row...); err != nil {
			return fmt.Errorf("row %s: %w", batch.Origins[r], err)
		}
	}
	return nil
}

// value is row r of col as the Appender takes it for the column type the
// dialect gives the field: times in UTC, JSON as its text.
func value(col *etl.Column, r int) (driver.Value, error) {
	if col.Null[r] {
		return nil, nil
	}
	switch col.Type {
	case etl.TypeString:
		return col.Str[r], nil
	case etl.TypeInt:
		return col.Int[r], nil
	case etl.TypeFloat:
		return col.Float[r], nil
	case etl.TypeBool:
		return col.Bool[r], nil
	case etl.TypeTimestamp, etl.TypeDate:
		return col.Time[r].UTC(), nil
	case etl.TypeJSON:
		return sqlconn.EncodeJSON(col.JSON[r])
	}
	return nil, fmt.Errorf("unknown field type %s", col.Type)
}
