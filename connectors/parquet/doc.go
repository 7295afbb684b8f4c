// Package parquet is nightjar's Parquet output format ("parquet",
// .parquet), written with parquet-go: one optional column per field,
// typed from the batch schema (string, int64, double, boolean, timestamp
// in microseconds UTC, date, JSON), compressed with snappy (default) or
// zstd, in row groups of bounded size so memory stays flat.
//
// It registers the format with connectors/internal/fileformat from init;
// it imports only etl and fileformat, never connectors/files. Parquet is
// write-only here: reading it is not a goal of the files source.
package parquet
