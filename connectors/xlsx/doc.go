// Package xlsx is nightjar's Excel workbook format ("xlsx", .xlsx): a
// streaming reader that types cells (numbers, booleans, dates from serials
// in either date system and from date formats) and a writer built on
// excelize's StreamWriter (typed cells, a bold header, a frozen header
// row).
//
// It registers the format with connectors/internal/fileformat from init;
// it imports only etl and fileformat, never connectors/files.
package xlsx
