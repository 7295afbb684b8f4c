// Package mysql is nightjar's MySQL and MariaDB connector: the "mysql"
// connection type (a go-sql-driver DSN), the "table/mysql" target, which
// appends, merges (upserts by key) or replaces a table, and the "sql/mysql"
// source, which reads a table or a query in keyset-paginated chunks,
// incrementally by a cursor column.
//
// The target loads each batch with LOAD DATA LOCAL INFILE within the
// batch's transaction, streamed from the column vectors through a reader
// registered with the driver (Reader::…, no file): tab-separated,
// backslash-escaped, \N for null (infileRows). A merge loads into a
// temporary staging table (CREATE TEMPORARY TABLE does not commit the
// transaction, unlike other DDL), then upserts its rows in batch order with
// one INSERT … SELECT … ON DUPLICATE KEY UPDATE, so that the last row of a
// key repeated within the batch wins. Each value is the text the driver
// would write into an INSERT for it, so that it lands as through INSERT;
// where the server would convert that text otherwise than the INSERT's
// number literal (a float in a text column, an int in an ENUM: see
// infileSafe), the batch is inserted instead. With LOCAL the server cannot
// stop the stream, so a value its column cannot hold is stored converted
// or truncated with a warning: the target reads SHOW WARNINGS and the row
// count after each load and fails the batch on a warning, naming its row
// and column, as a strict INSERT fails (notes, such as a fraction of a
// second cut to the column's precision, pass as they do for an INSERT).
// When the server refuses LOAD DATA LOCAL INFILE (local_infile off), the
// target says so once and loads with multi-row INSERT … ON DUPLICATE KEY
// UPDATE statements sized to the packet limit for the rest of the run.
//
// The generic SQL work lives in connectors/internal/sqlconn; this package
// holds what is MySQL's own: the dialect, the DSN settings nightjar relies
// on (UTC times, utf8mb4, client-side interpolation; for a target, strict
// sql_mode unless the DSN sets one, and room for every warning of a load),
// LOAD DATA and statement batching, the RENAME TABLE swap, the type mapping
// and the errors worth a retry. It must not import other connectors, jobs
// or transforms.
package mysql
