// Package csvfile is nightjar's CSV format: a streaming RFC 4180 reader that
// keeps quoted fields byte for byte (a CR LF inside quotes stays CR LF,
// unlike encoding/csv), tracks the byte offset and line of every record and
// copies each batch's field bytes into one arena instead of allocating per
// field; and a writer that quotes only where needed.
//
// It registers the "csv" format with connectors/internal/fileformat from
// init; the files source and file target find it there. csvfile imports
// only etl and fileformat, never connectors/files.
package csvfile
