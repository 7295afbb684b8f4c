// Package files holds nightjar's file connectors: the "files" source, which
// loads every file matching a glob once (a file ledger keyed by SHA-256),
// waits for files still being written to settle, resumes mid-file from a
// byte offset, moves loaded files to an archive folder and unreadable ones
// to a failed folder, and refuses paths leading outside its root; the
// "file" target, which writes to a temporary file renamed into place at
// commit; and Watcher, which reports settled new files in a folder
// (fsnotify events with a polling fallback) for run --watch and the
// daemon.
//
// Formats (CSV, JSON Lines, JSON, XLSX, Parquet) are not known here: they
// register with connectors/internal/fileformat from their own packages,
// which a binary links in with blank imports (connectors/all). files must
// not import them, so that a format never depends on this package's
// internals and the registry stays the only seam. Gzip and text encodings
// are handled here, below every text format.
package files
