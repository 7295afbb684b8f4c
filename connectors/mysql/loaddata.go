package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// infileReaders numbers the readers registered with the driver for
// LOAD DATA LOCAL INFILE 'Reader::…': its registry is global to the
// process, and targets load in parallel.
var infileReaders atomic.Uint64

// stageTable is the temporary table a merge loads a batch into; a
// temporary table belongs to its session, so one name serves every
// connection. Its columns are ordColumn, then the batch's fields by
// position (c1, c2, …), so that in the upsert clause a column name can
// only mean the target table's.
const (
	stageTable = "_nightjar_stage"
	ordColumn  = "_nightjar_ord"
)

// infileFormat is the format infileRows writes: UTF-8, fields ended by
// tabs and rows by newlines, backslash escapes. The terminators are hex:
// with NO_BACKSLASH_ESCAPES in sql_mode, '\t' would be two characters.
const infileFormat = " CHARACTER SET utf8mb4 FIELDS TERMINATED BY X'09' ESCAPED BY X'5C' LINES TERMINATED BY X'0A'"

// The errors of a server or client refusing LOAD DATA LOCAL INFILE.
const (
	errNotAllowedCommand        = 1148 // MySQL 5, older MariaDB
	errClientLocalFilesDisabled = 3948 // MySQL 8
	errLoadInfileCapabilityOff  = 4166 // recent MariaDB (10.11 gives it)
)

// infileRefused reports the error of a server (local_infile off) or
// client refusing LOAD DATA LOCAL INFILE.
func infileRefused(err error) bool {
	var myErr *mysql.MySQLError
	if !errors.As(err, &myErr) {
		return false
	}
	switch myErr.Number {
	case errNotAllowedCommand, errClientLocalFilesDisabled, errLoadInfileCapabilityOff:
		return true
	}
	return false
}

// loadData loads the batch with LOAD DATA LOCAL INFILE within tx (it rolls
// back with it), the rows streamed from the column vectors by infileRows.
// Without keys it loads into table. With keys it loads into the temporary
// stageTable (CREATE and DROP TEMPORARY TABLE, unlike other DDL, do not
// commit the transaction), then upserts the staged rows into table in
// batch order, so that the last row of a key repeated within the batch
// wins, as with INSERT.
func (b *backend) loadData(ctx context.Context, tx *sqlx.Tx, table string, batch *etl.Batch, keys []string) error {
	names := batch.Schema.Names()
	qt, err := b.QuoteIdent(table)
	if err != nil {
		return err
	}
	qc, err := sqlconn.QuoteAll(b, names)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return b.loadInfile(ctx, tx, qt, qc, batch, false, nil)
	}

	ins, err := sqlconn.NewInsert(b, table, names, keys)
	if err != nil {
		return err
	}
	_, upsert := ins.Parts()
	stage, _ := b.QuoteIdent(stageTable)
	ord, _ := b.QuoteIdent(ordColumn)
	staged := make([]string, len(names))
	picks := make([]string, len(names))
	// Warnings name the staged columns: name the fields instead.
	renames := make([]string, 0, 4*len(names))
	for i, name := range names {
		staged[i] = "c" + strconv.Itoa(i+1)
		picks[i] = qc[i] + " AS " + staged[i]
		renames = append(renames, "'"+staged[i]+"'", "'"+name+"'", "`"+staged[i]+"`", qc[i])
	}
	if b.stageLeft { // by a load that failed, unless its session ended
		if _, err := tx.ExecContext(ctx, "DROP TEMPORARY TABLE IF EXISTS "+stage); err != nil {
			return fmt.Errorf("drop staging table: %w", err)
		}
	}
	b.stageLeft = true
	// Created from a SELECT, it has the types of table's columns, so that
	// the upsert converts nothing, but not the key's unique index (as LIKE
	// would: LOAD DATA LOCAL skips a row whose key is taken). Its primary
	// key is the row's number, so that it is read in batch order without
	// a sort. (CREATE … SELECT wants a default for a NOT NULL column.)
	create := "CREATE TEMPORARY TABLE " + stage + " (" + ord + " BIGINT NOT NULL DEFAULT 0 PRIMARY KEY) SELECT " +
		strings.Join(picks, ", ") + " FROM " + qt + " WHERE 0"
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("create staging table: %w", err)
	}
	if err := b.loadInfile(ctx, tx, stage, append([]string{ord}, staged...), batch, true, strings.NewReplacer(renames...)); err != nil {
		return err
	}
	// Rows inserted in batch order: a repeated key updates the row again.
	query := "INSERT INTO " + qt + " (" + strings.Join(qc, ", ") + ") SELECT " + strings.Join(staged, ", ") +
		" FROM " + stage + " ORDER BY " + ord + upsert
	if _, err := tx.ExecContext(ctx, query); err != nil {
		return fmt.Errorf("upsert from staging table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DROP TEMPORARY TABLE "+stage); err != nil {
		return fmt.Errorf("drop staging table: %w", err)
	}
	b.stageLeft = false
	return nil
}

// loadInfile streams the batch into the quoted table's quoted columns
// (with ord, the first column takes the row's number in the batch);
// renames, when not nil, rewrites the column names in warnings. With
// LOCAL the server cannot stop the stream, so it stores a value that does
// not fit its column converted or truncated, and skips a row whose unique
// key is taken, with a warning; checkWarnings and the row count make those
// errors, as a strict INSERT would.
func (b *backend) loadInfile(ctx context.Context, tx *sqlx.Tx, qtable string, qcols []string, batch *etl.Batch, ord bool, renames *strings.Replacer) error {
	rows := &b.infile
	rows.reset(batch, ord)
	defer rows.reset(nil, false) // keep no reference to the batch
	reader := "nightjar-" + strconv.FormatUint(infileReaders.Add(1), 10)
	mysql.RegisterReaderHandler(reader, func() io.Reader { return rows })
	defer mysql.DeregisterReaderHandler(reader)
	query := "LOAD DATA LOCAL INFILE 'Reader::" + reader + "' INTO TABLE " + qtable + infileFormat +
		" (" + strings.Join(qcols, ", ") + ")"
	res, err := tx.ExecContext(ctx, query)
	if err != nil {
		if rows.err != nil {
			return rows.err // the driver passes it on; this one names the row
		}
		return fmt.Errorf("load data: %w", err)
	}
	loaded, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("load data: %w", err)
	}
	if err := b.checkWarnings(ctx, tx, batch, renames); err != nil {
		return err
	}
	if loaded != int64(batch.Len()) {
		return fmt.Errorf("load data: %d rows loaded of %d", loaded, batch.Len())
	}
	return nil
}

// checkWarnings fails on the first warning or error the last statement
// raised, naming the batch's row when the message gives its number, the
// column names in it rewritten by renames when not nil. Notes
// pass, as they do for an INSERT: a time's fraction beyond the column's
// precision, say, which the same text in an INSERT gets the same note for.
func (b *backend) checkWarnings(ctx context.Context, tx *sqlx.Tx, batch *etl.Batch, renames *strings.Replacer) error {
	rows, err := tx.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		return fmt.Errorf("show warnings: %w", err)
	}
	defer rows.Close()
	type warning struct {
		level   string
		code    int
		message string
	}
	var (
		first       *warning
		listed, bad int
	)
	for rows.Next() {
		var w warning
		if err := rows.Scan(&w.level, &w.code, &w.message); err != nil {
			return fmt.Errorf("show warnings: %w", err)
		}
		listed++
		if w.level == "Note" {
			continue
		}
		if bad++; first == nil {
			first = &w
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("show warnings: %w", err)
	}
	if first != nil {
		message := first.message
		if renames != nil {
			message = renames.Replace(message)
		}
		err := fmt.Errorf("load data: %s %d: %s", first.level, first.code, message)
		if bad > 1 {
			err = fmt.Errorf("%w (and %d more)", err, bad-1)
		}
		if origin, ok := warningOrigin(batch, first.message); ok {
			err = fmt.Errorf("%s: %w", origin, err)
		}
		return err
	}
	if b.maxWarnings > 0 && listed >= b.maxWarnings {
		return fmt.Errorf("load data: %d notes, as many as SHOW WARNINGS lists (max_error_count): a warning past them would go unseen; load smaller batches (batch_size)", listed)
	}
	return nil
}

// warningOrigin returns the origin of the batch's row a warning names
// ("… at row 7"; rows count from 1, in the stream's order, which is the
// batch's).
func warningOrigin(batch *etl.Batch, message string) (etl.Origin, bool) {
	const at = " at row "
	i := strings.LastIndex(message, at)
	if i < 0 {
		return etl.Origin{}, false
	}
	n, err := strconv.Atoi(message[i+len(at):])
	if err != nil || n < 1 || n > batch.Len() {
		return etl.Origin{}, false
	}
	return batch.Origins[n-1], true
}

// columnTypes returns the data type (information_schema's DATA_TYPE:
// "bigint", "longtext", …) of each column of table, keyed by IdentKey. The
// answer is kept for the run, so that a batch costs no round trip for it,
// and asked again when a batch has a field it lacks (a column added by
// evolve), after a failed load and after a swap.
func (b *backend) columnTypes(ctx context.Context, q sqlx.QueryerContext, table string, s *etl.Schema) (map[string]string, error) {
	if types, ok := b.types[table]; ok {
		hasAll := true
		for i := range s.Len() {
			_, has := types[b.IdentKey(s.Field(i).Name)]
			hasAll = hasAll && has
		}
		if hasAll {
			return types, nil
		}
	}
	rows, err := q.QueryContext(ctx, "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", table)
	if err != nil {
		return nil, fmt.Errorf("read column types: %w", err)
	}
	defer rows.Close()
	types := map[string]string{}
	for rows.Next() {
		var name, dataType string
		if err := rows.Scan(&name, &dataType); err != nil {
			return nil, fmt.Errorf("read column types: %w", err)
		}
		types[b.IdentKey(name)] = strings.ToLower(dataType)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read column types: %w", err)
	}
	if b.types == nil {
		b.types = map[string]map[string]string{}
	}
	b.types[table] = types
	return types, nil
}

// infileSafe reports whether a field of type t lands in a column of
// dataType through LOAD DATA as it does through INSERT. Strings, times and
// JSON are quoted text in an INSERT, as in LOAD DATA; ints, floats and
// bools are number literals, which a numeric column converts as it does
// their text, but not every column does: in a text column a float would
// keep Go's form ("1e+21") instead of the server's ("1e21"), in an ENUM an
// int would pick a member by name instead of by number. The columns of the
// types nightjar creates are all safe, but for bytes: LOAD DATA reads its
// file in one character set, so binary data goes through INSERT.
func infileSafe(t etl.Type, dataType string) bool {
	switch t {
	case etl.TypeString, etl.TypeTimestamp, etl.TypeDate, etl.TypeJSON, etl.TypeLocalTimestamp, etl.TypeDecimal, etl.TypeUUID, etl.TypeArray:
		return true
	case etl.TypeBytes:
		return false
	}
	switch dataType {
	case "decimal", "float", "double":
		return true
	case "tinyint", "smallint", "mediumint", "int", "bigint",
		"char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return t == etl.TypeInt || t == etl.TypeBool
	}
	return false
}
