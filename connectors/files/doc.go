// Package files holds nightjar's file connectors: the "files" source, which
// loads every file matching a glob once (a file ledger keyed by SHA-256)
// and resumes mid-file from a byte offset, and the "file" target, which
// writes to a temporary file renamed into place at commit.
//
// Formats (CSV, JSON Lines) are not known here: they register with
// connectors/internal/fileformat from their own packages (connectors/csvfile,
// connectors/jsonfile), which a binary links in with blank imports
// (connectors/all). files must not import them, so that a format never
// depends on this package's internals and the registry stays the only seam.
package files
