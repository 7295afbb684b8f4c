package etl

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// This file is the one table of field types: for each type, its names,
// the vector its values live in (its storage), how a value is spelled as
// text and compared, and the column type it becomes and is read from in
// each SQL dialect. Everything that differs between types is looked up
// here; code elsewhere switches on a type's Storage, of which there are
// six, so that a new field type is one entry in this table.

// Storage is the vector of a Column holding a type's values.
type Storage uint8

// The storages.
const (
	StoreStr   Storage = iota + 1 // Column.Str
	StoreInt                      // Column.Int
	StoreFloat                    // Column.Float
	StoreBool                     // Column.Bool
	StoreTime                     // Column.Time
	StoreJSON                     // Column.JSON
)

// SQL dialect names, as the table's per-dialect entries are keyed.
const (
	DialectPostgres = "postgres"
	DialectMySQL    = "mysql"
	DialectSQLite   = "sqlite"
)

// typeInfo is one field type's entry in the table.
type typeInfo struct {
	name    string
	aliases []string
	storage Storage
	// doc is the type's one line in the documentation.
	doc string
	// appendText appends a non-null value as text (CSV, logs, SQLite).
	appendText func(buf []byte, c *Column, i int) []byte
	// compare orders two non-null values of the type.
	compare func(a *Column, i int, b *Column, j int) int
	// sql is the column type a field becomes in each dialect.
	sql map[string]string
	// sqlOf, if set, is the column type of a field by more than its type
	// (a decimal's precision, an array's element type), and false where
	// the dialect has none for it: sql's then.
	sqlOf func(f Field, dialect string) (string, bool)
	// unnamed: the type is not named alone in a config (an array needs
	// its element type, and is read from databases only).
	unnamed bool
	// check, for a type held as text, refuses text that is not a value
	// of the type (Column.Append, SQL reads and casts call it).
	check func(s string) error
	// reads are the database type names (upper case, without a size) a
	// dialect's source reads as this type.
	reads map[string][]string
}

// LocalLayout is how a local timestamp is spelled as text: a wall-clock
// time with no zone or offset.
const LocalLayout = "2006-01-02T15:04:05.999999999"

var typeTable = [...]typeInfo{
	TypeString: {
		name: "string", aliases: []string{"text"}, storage: StoreStr,
		doc:        "text (valid UTF-8)",
		appendText: func(buf []byte, c *Column, i int) []byte { return append(buf, c.Str[i]...) },
		compare:    func(a *Column, i int, b *Column, j int) int { return strings.Compare(a.Str[i], b.Str[j]) },
		sql:        map[string]string{DialectPostgres: "TEXT", DialectMySQL: "LONGTEXT", DialectSQLite: "TEXT"},
	},
	TypeInt: {
		name: "int", aliases: []string{"integer"}, storage: StoreInt,
		doc:        "64-bit signed integer",
		appendText: func(buf []byte, c *Column, i int) []byte { return strconv.AppendInt(buf, c.Int[i], 10) },
		compare:    func(a *Column, i int, b *Column, j int) int { return cmp.Compare(a.Int[i], b.Int[j]) },
		sql:        map[string]string{DialectPostgres: "BIGINT", DialectMySQL: "BIGINT", DialectSQLite: "INTEGER"},
		reads: map[string][]string{
			DialectPostgres: {"INT2", "INT4", "INT8", "OID"},
			DialectMySQL:    {"TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR"},
		},
	},
	TypeFloat: {
		name: "float", aliases: []string{"number", "double"}, storage: StoreFloat,
		doc:        "64-bit IEEE 754 float",
		appendText: func(buf []byte, c *Column, i int) []byte { return strconv.AppendFloat(buf, c.Float[i], 'g', -1, 64) },
		compare:    func(a *Column, i int, b *Column, j int) int { return cmp.Compare(a.Float[i], b.Float[j]) },
		sql:        map[string]string{DialectPostgres: "DOUBLE PRECISION", DialectMySQL: "DOUBLE", DialectSQLite: "REAL"},
		reads: map[string][]string{
			DialectPostgres: {"FLOAT4", "FLOAT8"},
			DialectMySQL:    {"FLOAT", "DOUBLE"},
		},
	},
	TypeBool: {
		name: "bool", aliases: []string{"boolean"}, storage: StoreBool,
		doc:        "true or false",
		appendText: func(buf []byte, c *Column, i int) []byte { return strconv.AppendBool(buf, c.Bool[i]) },
		compare: func(a *Column, i int, b *Column, j int) int {
			switch {
			case a.Bool[i] == b.Bool[j]:
				return 0
			case a.Bool[i]:
				return 1
			}
			return -1
		},
		sql:   map[string]string{DialectPostgres: "BOOLEAN", DialectMySQL: "BOOLEAN", DialectSQLite: "INTEGER"},
		reads: map[string][]string{DialectPostgres: {"BOOL"}, DialectSQLite: {"BOOLEAN", "BOOL"}},
	},
	TypeTimestamp: {
		name: "timestamp", aliases: []string{"datetime"}, storage: StoreTime,
		doc:        "an instant, RFC 3339 in UTC when spelled",
		appendText: func(buf []byte, c *Column, i int) []byte { return c.Time[i].UTC().AppendFormat(buf, time.RFC3339Nano) },
		compare:    compareTime,
		sql:        map[string]string{DialectPostgres: "TIMESTAMPTZ", DialectMySQL: "DATETIME(6)", DialectSQLite: "TEXT"},
		reads: map[string][]string{
			DialectPostgres: {"TIMESTAMPTZ"},
			DialectMySQL:    {"TIMESTAMP"},
			DialectSQLite:   {"TIMESTAMP", "DATETIME"},
		},
	},
	TypeDate: {
		name: "date", storage: StoreTime,
		doc:        "a calendar date, YYYY-MM-DD",
		appendText: func(buf []byte, c *Column, i int) []byte { return c.Time[i].UTC().AppendFormat(buf, time.DateOnly) },
		compare:    compareTime,
		sql:        map[string]string{DialectPostgres: "DATE", DialectMySQL: "DATE", DialectSQLite: "TEXT"},
		reads:      map[string][]string{DialectPostgres: {"DATE"}, DialectMySQL: {"DATE"}, DialectSQLite: {"DATE"}},
	},
	TypeJSON: {
		name: "json", storage: StoreJSON,
		doc:        "a nested value (object, array, scalar, JSON null)",
		appendText: func(buf []byte, c *Column, i int) []byte { return append(buf, FormatValue(c.JSON[i])...) },
		compare: func(a *Column, i int, b *Column, j int) int {
			return strings.Compare(FormatValue(a.JSON[i]), FormatValue(b.JSON[j]))
		},
		sql:   map[string]string{DialectPostgres: "JSONB", DialectMySQL: "JSON", DialectSQLite: "TEXT"},
		reads: map[string][]string{DialectPostgres: {"JSON", "JSONB"}, DialectMySQL: {"JSON"}},
	},
	TypeBytes: {
		name: "bytes", aliases: []string{"binary", "blob"}, storage: StoreStr,
		doc: "binary data (any bytes), standard base64 when spelled as text",
		appendText: func(buf []byte, c *Column, i int) []byte {
			return base64.StdEncoding.AppendEncode(buf, []byte(c.Str[i]))
		},
		compare: func(a *Column, i int, b *Column, j int) int { return strings.Compare(a.Str[i], b.Str[j]) },
		sql:     map[string]string{DialectPostgres: "BYTEA", DialectMySQL: "LONGBLOB", DialectSQLite: "BLOB"},
		reads: map[string][]string{
			DialectPostgres: {"BYTEA"},
			DialectMySQL:    {"BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "BIT"},
			DialectSQLite:   {"BLOB"},
		},
	},
	TypeLocalTimestamp: {
		name: "local_timestamp", aliases: []string{"timestamp_ntz", "local_datetime"}, storage: StoreTime,
		doc:        "a wall-clock date and time with no time zone, YYYY-MM-DDTHH:MM:SS[.fraction]",
		appendText: func(buf []byte, c *Column, i int) []byte { return c.Time[i].UTC().AppendFormat(buf, LocalLayout) },
		compare:    compareTime,
		sql:        map[string]string{DialectPostgres: "TIMESTAMP", DialectMySQL: "DATETIME(6)", DialectSQLite: "TEXT"},
		reads: map[string][]string{
			DialectPostgres: {"TIMESTAMP"},
			DialectMySQL:    {"DATETIME"},
		},
	},
	TypeDecimal: {
		name: "decimal", aliases: []string{"numeric"}, storage: StoreStr,
		doc:        "an exact decimal number, its digits as the source holds them; precision and scale carried where known",
		appendText: func(buf []byte, c *Column, i int) []byte { return append(buf, c.Str[i]...) },
		compare:    func(a *Column, i int, b *Column, j int) int { return CompareDecimals(a.Str[i], b.Str[j]) },
		check:      ParseDecimal,
		// Unbounded: NUMERIC; MySQL's DECIMAL without a precision is
		// DECIMAL(10,0), which would round, so text.
		sql: map[string]string{DialectPostgres: "NUMERIC", DialectMySQL: "LONGTEXT", DialectSQLite: "TEXT"},
		sqlOf: func(f Field, dialect string) (string, bool) {
			if f.Precision <= 0 {
				return "", false
			}
			ps := "(" + strconv.Itoa(f.Precision) + "," + strconv.Itoa(f.Scale) + ")"
			switch dialect {
			case DialectPostgres:
				return "NUMERIC" + ps, f.Precision <= 1000 && f.Scale <= f.Precision
			case DialectMySQL:
				return "DECIMAL" + ps, f.Precision <= 65 && f.Scale <= 30 && f.Scale <= f.Precision
			}
			return "", false
		},
		reads: map[string][]string{
			DialectPostgres: {"NUMERIC"},
			DialectMySQL:    {"DECIMAL"},
		},
	},
	TypeUUID: {
		name: "uuid", storage: StoreStr,
		doc:        "a UUID, lower-case 8-4-4-4-12 hex digits",
		appendText: func(buf []byte, c *Column, i int) []byte { return append(buf, c.Str[i]...) },
		compare:    func(a *Column, i int, b *Column, j int) int { return strings.Compare(a.Str[i], b.Str[j]) },
		check:      CheckUUID,
		// MySQL has no UUID type: CHAR(36) holds the text. MariaDB 10.7
		// and later have one, which its target creates instead (see
		// connectors/mysql's ColumnTypeOn).
		sql:   map[string]string{DialectPostgres: "UUID", DialectMySQL: "CHAR(36)", DialectSQLite: "TEXT"},
		reads: map[string][]string{DialectPostgres: {"UUID"}},
	},
	TypeArray: {
		name: "array", storage: StoreJSON, unnamed: true,
		doc:        "an array of one element type (array(int), array(string), ...), with NULL elements and any number of dimensions; a JSON array when spelled",
		appendText: func(buf []byte, c *Column, i int) []byte { return append(buf, FormatValue(c.JSON[i])...) },
		compare: func(a *Column, i int, b *Column, j int) int {
			return strings.Compare(FormatValue(a.JSON[i]), FormatValue(b.JSON[j]))
		},
		// The stated rule (docs/types.md): an array of its element's
		// column type in PostgreSQL, a JSON array elsewhere.
		// sqlOf is sqlArray (set in init: it looks the element up here).
		sql: map[string]string{DialectPostgres: "JSONB", DialectMySQL: "JSON", DialectSQLite: "TEXT"},
	},
}

func init() { typeTable[TypeArray].sqlOf = sqlArray }

// sqlArray is an array's PostgreSQL column type: its element's, with [].
func sqlArray(f Field, dialect string) (string, bool) {
	if dialect != DialectPostgres || !IsArrayElement(f.Elem) {
		return "", false
	}
	return SQLColumnType(Field{Name: f.Name, Type: f.Elem}, dialect) + "[]", true
}

// IsArrayElement reports whether an array field may hold elements of type
// t: any type but json and array (PostgreSQL's json[] and nested arrays
// are read as text).
func IsArrayElement(t Type) bool {
	return t.info() != nil && t != TypeJSON && t != TypeArray
}

// SQLArrayElement is the element type a dialect's source reads an array
// column of database type name dbType as ("_INT8" in PostgreSQL, as pgx
// names int8[]), and whether it reads it as an array at all.
func SQLArrayElement(dialect, dbType string) (Type, bool) {
	dbType = strings.ToUpper(strings.TrimSpace(dbType))
	if dialect != DialectPostgres || !strings.HasPrefix(dbType, "_") {
		return 0, false
	}
	elem := strings.TrimPrefix(dbType, "_")
	if t, ok := SQLFieldType(dialect, elem); ok && IsArrayElement(t) {
		return t, true
	}
	switch elem {
	case "TEXT", "VARCHAR", "BPCHAR":
		return TypeString, true
	}
	return 0, false
}

// ArrayElement returns row i of c, a column of an array's element type,
// as an array holds it: nil for null, int64, float64, bool, []byte for
// bytes, and for every other type its text (a decimal's digits, a UUID,
// a date, timestamp or local timestamp as AppendText spells it), so that
// an array is written as JSON as it is.
func ArrayElement(c *Column, i int) any {
	if !c.Null[i] && c.Type.Storage() == StoreTime {
		return string(c.AppendText(nil, i))
	}
	return c.Value(i) // for bytes a []byte
}

func compareTime(a *Column, i int, b *Column, j int) int { return a.Time[i].Compare(b.Time[j]) }

// AllTypes lists every field type in the table's order.
func AllTypes() []Type {
	var out []Type
	for t := range typeTable {
		if typeTable[t].name != "" {
			out = append(out, Type(t))
		}
	}
	return out
}

func (t Type) info() *typeInfo {
	if int(t) < len(typeTable) && typeTable[t].name != "" {
		return &typeTable[t]
	}
	return nil
}

// Storage is the vector of a Column holding values of type t (0 for an
// unknown type).
func (t Type) Storage() Storage {
	if in := t.info(); in != nil {
		return in.storage
	}
	return 0
}

// Doc is the type's one-line description.
func (t Type) Doc() string {
	if in := t.info(); in != nil {
		return in.doc
	}
	return ""
}

// SQLColumnType is the column type field f is created with in dialect
// ("postgres", "mysql", "sqlite"): by its type, and for a decimal of known
// precision NUMERIC(p,s) / DECIMAL(p,s) where the dialect holds it;
// TEXT-like for an unknown type.
func SQLColumnType(f Field, dialect string) string {
	if in := f.Type.info(); in != nil {
		if in.sqlOf != nil {
			if s, ok := in.sqlOf(f, dialect); ok {
				return s
			}
		}
		if s, ok := in.sql[dialect]; ok {
			return s
		}
	}
	return typeTable[TypeString].sql[dialect]
}

// SQLFieldType is the field type a dialect's source reads a column of
// database type name dbType as (case-insensitive, without a size: "INT8",
// "DATETIME"), and whether the table names it.
func SQLFieldType(dialect, dbType string) (Type, bool) {
	dbType = strings.ToUpper(strings.TrimSpace(dbType))
	for t := range typeTable {
		for _, n := range typeTable[t].reads[dialect] {
			if n == dbType {
				return Type(t), true
			}
		}
	}
	return 0, false
}

// AppendText appends row i of c, which is not null, as text: RFC 3339 for
// timestamps, YYYY-MM-DD for dates, JSON for nested values, base64 for
// bytes.
func (c *Column) AppendText(buf []byte, i int) []byte {
	return typeTable[c.Type].appendText(buf, c, i)
}

// CompareCells orders row i of a against row j of b, which have the same
// type; nulls sort first.
func CompareCells(a *Column, i int, b *Column, j int) int {
	an, bn := a.Null[i], b.Null[j]
	switch {
	case an && bn:
		return 0
	case an:
		return -1
	case bn:
		return 1
	}
	return typeTable[a.Type].compare(a, i, b, j)
}

// ParseDecimal checks that s is a decimal number as databases spell one
// ("-12.340", "0", ".5" is not): an optional minus, digits, optionally a
// point and digits.
func ParseDecimal(s string) error {
	digits, frac := s, ""
	digits = strings.TrimPrefix(digits, "-")
	if i := strings.IndexByte(digits, '.'); i >= 0 {
		digits, frac = digits[:i], digits[i+1:]
		if frac == "" {
			return fmt.Errorf("%q is not a decimal (no digits after the point)", s)
		}
	}
	if digits == "" {
		return fmt.Errorf("%q is not a decimal", s)
	}
	for _, part := range [2]string{digits, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return fmt.Errorf("%q is not a decimal (digits, a minus and a point only; NaN and infinities have no decimal column in every database)", s)
			}
		}
	}
	return nil
}

// CompareDecimals orders two decimals by value (1.50 equals 1.5); text
// that is not a decimal sorts after, by its bytes.
func CompareDecimals(a, b string) int {
	x, okx := new(big.Rat).SetString(a)
	y, oky := new(big.Rat).SetString(b)
	switch {
	case okx && oky:
		return x.Cmp(y)
	case okx:
		return -1
	case oky:
		return 1
	}
	return strings.Compare(a, b)
}

// CheckUUID checks that s is a UUID in its lower-case text form
// (8-4-4-4-12 hex digits), as PostgreSQL writes one.
func CheckUUID(s string) error {
	if len(s) != 36 {
		return fmt.Errorf("%q is not a UUID (8-4-4-4-12 lower-case hex digits)", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return fmt.Errorf("%q is not a UUID (8-4-4-4-12 lower-case hex digits)", s)
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%q is not a UUID (8-4-4-4-12 lower-case hex digits)", s)
		}
	}
	return nil
}

// CheckText refuses s as a value of type t held as text (a decimal that
// is not digits, a UUID not in its text form); nil for other types.
func CheckText(t Type, s string) error {
	if in := t.info(); in != nil && in.check != nil {
		return in.check(s)
	}
	return nil
}
