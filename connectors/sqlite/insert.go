package sqlite

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
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

func (b *backend) insertFor(table string, s *etl.Schema, keys []string) (*preparedInsert, error) {
	if p := b.insert; p != nil && p.table == table && (p.schema == s || p.schema.Equal(s)) {
		p.schema = s
		return p, nil
	}
	ins, err := sqlconn.NewInsert(Dialect{}, table, s.Names(), keys)
	if err != nil {
		return nil, err
	}
	rows := ins.RowsPerStatement(b.rowLimit)
	return &preparedInsert{schema: s, table: table, ins: ins, rows: rows, fullSQL: ins.SQL(rows)}, nil
}

// insertRows inserts the batch's rows, in the transaction open on conn, in
// statements of p.rows rows. It talks to go-sqlite3 directly (Conn.Raw):
// each chunk's values are encoded into flat buffers (chunkValues) and bound
// in one cgo call (see stmtHandle), not one call per value.
func (b *backend) insertRows(ctx context.Context, conn *sqlx.Conn, table string, batch *etl.Batch, keys []string) error {
	n := batch.Len()
	if n == 0 {
		return nil
	}
	p, err := b.insertFor(table, batch.Schema, keys)
	if err != nil {
		return err
	}
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("driver connection is %T, want *sqlite3.SQLiteConn", dc)
		}
		if p != b.insert {
			// A new schema or table: the kept statement is finalized on
			// the connection it was prepared on.
			b.closeInsert()
			b.insert = p
		}
		for start := 0; start < n; start += p.rows {
			if err := ctx.Err(); err != nil {
				return err
			}
			rows := min(p.rows, n-start)
			if err := b.values.fill(batch, start, start+rows); err != nil {
				return err
			}
			if err := b.execChunk(ctx, sc, p, rows); err != nil {
				return fmt.Errorf("insert rows %d-%d (from %s): %w", start+1, start+rows, batch.Origins[start], err)
			}
		}
		return nil
	})
}

// execChunk runs the filled chunk: full chunks through the kept statement,
// the last, partial chunk of a batch through one prepared for it.
func (b *backend) execChunk(ctx context.Context, conn *sqlite3.SQLiteConn, p *preparedInsert, rows int) error {
	if rows == p.rows {
		if p.full == nil {
			stmt, err := prepareInsert(ctx, conn, p.fullSQL, b.driverBind)
			if err != nil {
				return err
			}
			p.full = stmt
		}
		return p.full.exec(ctx, &b.values)
	}
	stmt, err := prepareInsert(ctx, conn, p.ins.SQL(rows), b.driverBind)
	if err != nil {
		return err
	}
	err = stmt.exec(ctx, &b.values)
	if cerr := stmt.close(); err == nil {
		err = cerr
	}
	return err
}

// closeInsert finalizes the kept INSERT statement; the caller holds the
// connection it was prepared on (within conn.Raw).
func (b *backend) closeInsert() {
	if p := b.insert; p != nil && p.full != nil {
		_ = p.full.close()
		p.full = nil
	}
}

// CloseConn finalizes the kept INSERT statement, before the connection
// closes, is replaced, or the table is renamed away.
func (b *backend) CloseConn(conn *sqlx.Conn) {
	if p := b.insert; p != nil && p.full != nil {
		_ = conn.Raw(func(any) error { b.closeInsert(); return nil })
	}
}
