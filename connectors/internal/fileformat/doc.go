// Package fileformat is the small registry through which file formats (CSV
// in connectors/csvfile, JSON Lines in connectors/jsonfile) plug into the
// files source and the file target of connectors/files.
//
// A format registers itself from init with Register; connectors/files looks
// formats up by name or by file extension and never imports a format
// package, so a new format is one new package and one blank import in
// connectors/all. fileformat imports only etl.
package fileformat
