// Package mysql is nightjar's MySQL and MariaDB connector: the "mysql"
// connection type (a go-sql-driver DSN), the "table/mysql" target, which
// appends, merges (upserts by key) or replaces a table with multi-row
// INSERT … ON DUPLICATE KEY UPDATE statements sized to the server's packet
// limit, and the "sql/mysql" source, which reads a table or a query in
// keyset-paginated chunks, incrementally by a cursor column.
//
// The generic SQL work lives in connectors/internal/sqlconn; this package
// holds what is MySQL's own: the dialect, the DSN settings nightjar relies
// on (UTC times, utf8mb4, client-side interpolation), statement batching,
// the RENAME TABLE swap, the type mapping and the errors worth a retry. It
// must not import other connectors, jobs or transforms.
package mysql
