package sqlite

import (
	"context"
	"fmt"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// preparedInsert is the INSERT for one batch schema and one table, kept
// while consecutive batches share the schema.
type preparedInsert struct {
	schema  *etl.Schema
	table   string
	ins     *sqlconn.Insert
	rows    int    // rows per full statement
	fullSQL string // the statement for a full chunk of rows
	// full is fullSQL prepared on the target's connection, kept for the
	// run: preparing a 500-row INSERT costs as much as running it, and
	// go-sqlite3's PrepareContext does not use its statement cache.
	full *insertStmt
}

func (t *Target) insertFor(s *etl.Schema) (*preparedInsert, error) {
	if p := t.insert; p != nil && p.table == t.table && (p.schema == s || p.schema.Equal(s)) {
		p.schema = s
		return p, nil
	}
	t.closeInsert()
	var keys []string
	if t.cfg.Mode == ModeMerge {
		keys = t.cfg.Key
	}
	ins, err := sqlconn.NewInsert(Dialect{}, t.table, s.Names(), keys)
	if err != nil {
		return nil, err
	}
	rows := ins.RowsPerStatement(t.rowLimit)
	t.insert = &preparedInsert{schema: s, table: t.table, ins: ins, rows: rows, fullSQL: ins.SQL(rows)}
	return t.insert, nil
}

// insertRows inserts the batch's rows, in the transaction open on t.conn,
// in statements of p.rows rows. It talks to go-sqlite3 directly (Conn.Raw):
// each chunk's values are encoded into flat buffers (chunkValues) and bound
// in one cgo call (see stmtHandle), not one call per value.
func (t *Target) insertRows(ctx context.Context, b *etl.Batch) error {
	n := b.Len()
	if n == 0 {
		return nil
	}
	p, err := t.insertFor(b.Schema)
	if err != nil {
		return err
	}
	return t.conn.Raw(func(dc any) error {
		conn, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("driver connection is %T, want *sqlite3.SQLiteConn", dc)
		}
		for start := 0; start < n; start += p.rows {
			if err := ctx.Err(); err != nil {
				return err
			}
			rows := min(p.rows, n-start)
			if err := t.values.fill(b, start, start+rows); err != nil {
				return err
			}
			if err := t.execChunk(ctx, conn, p, rows); err != nil {
				return fmt.Errorf("insert rows %d-%d (from %s): %w", start+1, start+rows, b.Origins[start], err)
			}
		}
		return nil
	})
}

// execChunk runs the filled chunk: full chunks through the kept statement,
// the last, partial chunk of a batch through one prepared for it.
func (t *Target) execChunk(ctx context.Context, conn *sqlite3.SQLiteConn, p *preparedInsert, rows int) error {
	if rows == p.rows {
		if p.full == nil {
			stmt, err := prepareInsert(ctx, conn, p.fullSQL, t.driverBind)
			if err != nil {
				return err
			}
			p.full = stmt
		}
		return p.full.exec(ctx, &t.values)
	}
	stmt, err := prepareInsert(ctx, conn, p.ins.SQL(rows), t.driverBind)
	if err != nil {
		return err
	}
	err = stmt.exec(ctx, &t.values)
	if cerr := stmt.close(); err == nil {
		err = cerr
	}
	return err
}

// closeInsert finalizes the kept INSERT statement, before the schema or the
// table changes and before the connection closes.
func (t *Target) closeInsert() {
	p := t.insert
	if p == nil || p.full == nil || t.conn == nil {
		return
	}
	_ = t.conn.Raw(func(any) error { return p.full.close() })
	p.full = nil
}
