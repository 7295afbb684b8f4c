package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// stream is one binary COPY left open across the batches of a
// transaction: a COPY per batch costs a round trip and leaves the server
// idle while the client encodes the next batch, and the server's parse of
// one long stream overlaps the client's encoding throughout. The COPY runs
// in its own goroutine, reading what Stream writes into a pipe.
type stream struct {
	// into is the table copied into: the target, or a merge's staging
	// table; table is the target.
	into, table string
	fields      []etl.Field
	names       []string // the fields' names
	keys        []string
	pw          *io.PipeWriter
	done        chan copyResult
	// rows is how many rows were written into the stream.
	rows int64
}

type copyResult struct {
	rows int64
	err  error
}

var _ sqlconn.Streamer = (*backend)(nil)

// errStreamAborted ends a stream abandoned before a rollback.
var errStreamAborted = errors.New("copy abandoned: the transaction rolls back")

// Stream copies the batch into the transaction's open COPY, opening one
// when none is open for its table and fields; a batch whose field types
// binaryCopy cannot write to the table's columns is loaded by Load.
func (b *backend) Stream(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx, table string, batch *etl.Batch, keys []string) error {
	fields := batch.Schema.Fields()
	s := b.stream
	if s != nil && (s.table != table || !slices.Equal(s.fields, fields) || !slices.Equal(s.keys, keys)) {
		if err := b.Finish(ctx, conn, tx); err != nil {
			return err
		}
		s = nil
	}
	if s == nil {
		var oids map[string]uint32
		err := withConn(conn, func(c *pgx.Conn) error {
			var err error
			oids, err = b.columnOIDs(ctx, c, table, batch.Schema)
			return err
		})
		if err != nil {
			return err
		}
		if b.pgxOnly || !binaryCompatible(batch.Schema, oids) {
			return b.Load(ctx, conn, tx, table, batch, keys)
		}
		if s, err = b.openStream(ctx, conn, tx, table, fields, keys); err != nil {
			return err
		}
	}
	return b.writeStream(ctx, s, batch)
}

// openStream starts COPY into table, or for a merge into a new staging
// table, on the transaction's connection.
func (b *backend) openStream(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx, table string, fields []etl.Field, keys []string) (*stream, error) {
	into, names := table, make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	copied := names
	if len(keys) > 0 {
		if err := b.createStage(ctx, tx, table); err != nil {
			return nil, err
		}
		into, copied = stageTable, append(names[:len(names):len(names)], ordColumn)
	}
	qt, err := b.QuoteIdent(into)
	if err != nil {
		return nil, err
	}
	qc, err := sqlconn.QuoteAll(b, copied)
	if err != nil {
		return nil, err
	}
	// The connection is the transaction's, held by the table target,
	// which runs no statement on it until Finish or Abort has waited for
	// the COPY to end.
	var pc *pgconn.PgConn
	if err := withConn(conn, func(c *pgx.Conn) error {
		pc = c.PgConn()
		return nil
	}); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	s := &stream{into: into, table: table, fields: fields, names: names, keys: keys, pw: pw, done: make(chan copyResult, 1)}
	query := "COPY " + qt + " (" + strings.Join(qc, ", ") + ") FROM STDIN (FORMAT binary)"
	// The COPY outlives the Write that opened it; Abort ends it.
	copyCtx := context.WithoutCancel(ctx)
	go func() {
		tag, err := pc.CopyFrom(copyCtx, pr, query)
		// A writer blocked on the pipe gets the reason the COPY ended.
		if err != nil {
			pr.CloseWithError(err)
		} else {
			pr.CloseWithError(errors.New("copy ended before its stream"))
		}
		s.done <- copyResult{tag.RowsAffected(), err}
	}()
	b.stream = s
	if _, err := pw.Write(appendCopyHeader(nil)); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return s, nil
}

// writeStream encodes the batch into the open COPY.
func (b *backend) writeStream(ctx context.Context, s *stream, batch *etl.Batch) error {
	// A cancelled write must not wait on a server that stopped reading.
	stop := context.AfterFunc(ctx, func() { s.pw.CloseWithError(context.Cause(ctx)) })
	defer stop()
	r := &b.bin
	r.reset(batch, len(s.keys) > 0)
	defer r.reset(nil, false) // keep no reference to the batch
	r.streamed, r.ordBase = true, s.rows
	for !r.done {
		if err := r.fill(); err != nil {
			return err
		}
		if _, err := s.pw.Write(r.buf); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
	}
	s.rows += int64(batch.Len())
	return nil
}

// Finish ends the open COPY, checks that every row arrived, and for a
// merge upserts the staged rows.
func (b *backend) Finish(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx) error {
	s := b.stream
	if s == nil {
		return nil
	}
	b.stream = nil
	if _, err := s.pw.Write(copyTrailer); err != nil {
		s.pw.CloseWithError(err)
		<-s.done
		return fmt.Errorf("copy: %w", err)
	}
	s.pw.Close()
	res := <-s.done
	if res.err != nil {
		return fmt.Errorf("copy: %w", res.err)
	}
	if res.rows != s.rows {
		return fmt.Errorf("copy: %d rows copied of %d", res.rows, s.rows)
	}
	if len(s.keys) == 0 {
		return nil
	}
	return b.mergeStage(ctx, tx, s.table, s.names, s.keys)
}

// Abort abandons the open COPY and waits for it to end; the caller rolls
// the transaction back (sqlconn's rollback, after every failed write or
// commit). A write failed, maybe because the table changed under the run
// (a COPY's error can reach writeStream, Finish or copy): the column types
// are read again.
func (b *backend) Abort() {
	clear(b.oids)
	if s := b.stream; s != nil {
		b.stream = nil
		s.pw.CloseWithError(errStreamAborted)
		<-s.done
	}
}
