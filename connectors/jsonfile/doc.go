// Package jsonfile is nightjar's JSON Lines format ("jsonl", .jsonl and
// .ndjson): a reader that infers each batch's schema from its objects in
// first-seen key order and rejects malformed lines with their line number,
// and a writer that appends one typed object per row without building a
// map per row.
//
// It registers the format with connectors/internal/fileformat from init;
// it imports only etl and fileformat, never connectors/files.
package jsonfile
