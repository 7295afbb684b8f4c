// Package xmlfile is nightjar's XML format ("xml", .xml): a streaming
// reader that turns the elements at a record path into rows, one record in
// memory at a time, and a writer whose output that reader reads back to
// the same rows.
//
// A record's attributes become fields named @name, its child elements
// fields named by their local names, and its text #text when it also has
// attributes or children; an element with only text is a string, one with
// attributes or children a map (nested values are json), and an element
// repeated within its parent an array. The reader is encoding/xml's
// Decoder.Token, which resolves namespaces, checks that the document is
// well formed and never expands entities a DTD declares (a DTD is not
// read: an entity other than the five XML predefines is an error).
//
// It registers the format with connectors/internal/fileformat from init;
// it imports only etl and fileformat, never connectors/files.
package xmlfile
