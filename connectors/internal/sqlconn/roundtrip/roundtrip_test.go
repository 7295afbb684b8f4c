package roundtrip

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/mysql"
	"github.com/nightjar-etl/nightjar/connectors/postgres"
	"github.com/nightjar-etl/nightjar/connectors/sqlite"
	"github.com/nightjar-etl/nightjar/etl"
)

// dialect reaches one database for the test: a fresh PostgreSQL schema, a
// fresh MariaDB database or a SQLite file.
type dialect struct {
	name   string
	target func(t *testing.T, cfg sqlconn.TargetConfig) etl.Target
	source func(t *testing.T, cfg sqlconn.SourceConfig) etl.Source
}

func randomName() string {
	var rnd [6]byte
	rand.Read(rnd[:])
	return "nj_rt_" + hex.EncodeToString(rnd[:])
}

func postgresDialect(t *testing.T) dialect {
	dsn := os.Getenv("NIGHTJAR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("NIGHTJAR_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): skipping the round trip")
	}
	schema := randomName()
	t.Cleanup(func() {
		if db, err := sql.Open("pgx", dsn); err == nil {
			db.Exec(`DROP SCHEMA IF EXISTS "` + schema + `" CASCADE`)
			db.Close()
		}
	})
	conn := &etl.Connection{Name: "pg", Type: "postgres", Config: &postgres.ConnConfig{DSN: dsn}}
	return dialect{
		name: "postgres",
		target: func(t *testing.T, cfg sqlconn.TargetConfig) etl.Target {
			tg, err := postgres.New(&postgres.TargetConfig{TargetConfig: cfg, SchemaName: schema}, etl.BuildEnv{Connection: conn})
			if err != nil {
				t.Fatal(err)
			}
			return tg
		},
		source: func(t *testing.T, cfg sqlconn.SourceConfig) etl.Source {
			src, err := postgres.NewSource(&postgres.SourceConfig{SourceConfig: cfg, SchemaName: schema}, etl.BuildEnv{Connection: conn})
			if err != nil {
				t.Fatal(err)
			}
			return src
		},
	}
}

func mysqlDialect(t *testing.T) dialect {
	dsn := os.Getenv("NIGHTJAR_TEST_MYSQL")
	if dsn == "" {
		t.Skip("NIGHTJAR_TEST_MYSQL is not set (e.g. root@tcp(127.0.0.1:3306)/test): skipping the round trip")
	}
	database := randomName()
	t.Cleanup(func() {
		if db, err := sql.Open("mysql", dsn); err == nil {
			db.Exec("DROP DATABASE IF EXISTS `" + database + "`")
			db.Close()
		}
	})
	conn := &etl.Connection{Name: "maria", Type: "mysql", Config: &mysql.ConnConfig{DSN: dsn}}
	return dialect{
		name: "mariadb",
		target: func(t *testing.T, cfg sqlconn.TargetConfig) etl.Target {
			tg, err := mysql.New(&mysql.TargetConfig{TargetConfig: cfg, Database: database}, etl.BuildEnv{Connection: conn})
			if err != nil {
				t.Fatal(err)
			}
			return tg
		},
		source: func(t *testing.T, cfg sqlconn.SourceConfig) etl.Source {
			src, err := mysql.NewSource(&mysql.SourceConfig{SourceConfig: cfg, Database: database}, etl.BuildEnv{Connection: conn})
			if err != nil {
				t.Fatal(err)
			}
			return src
		},
	}
}

func sqliteDialect(t *testing.T) dialect {
	dir := t.TempDir()
	conn := &etl.Connection{Name: "lite", Type: "sqlite", Config: &sqlite.ConnConfig{Path: "rt.sqlite"}}
	env := etl.BuildEnv{BaseDir: dir, Connection: conn}
	return dialect{
		name: "sqlite",
		target: func(t *testing.T, cfg sqlconn.TargetConfig) etl.Target {
			tg, err := sqlite.New(&cfg, env)
			if err != nil {
				t.Fatal(err)
			}
			return tg
		},
		source: func(t *testing.T, cfg sqlconn.SourceConfig) etl.Source {
			src, err := sqlite.NewSource(&cfg, env)
			if err != nil {
				t.Fatal(err)
			}
			return src
		},
	}
}

// schema is the round trip's: a key, then a field of every type.
var schema = etl.MustSchema(
	etl.Field{Name: "id", Type: etl.TypeInt},
	etl.Field{Name: "s", Type: etl.TypeString},
	etl.Field{Name: "i", Type: etl.TypeInt},
	etl.Field{Name: "f", Type: etl.TypeFloat},
	etl.Field{Name: "b", Type: etl.TypeBool},
	etl.Field{Name: "ts", Type: etl.TypeTimestamp},
	etl.Field{Name: "d", Type: etl.TypeDate},
	etl.Field{Name: "j", Type: etl.TypeJSON},
	etl.Field{Name: "bin", Type: etl.TypeBytes},
	etl.Field{Name: "lts", Type: etl.TypeLocalTimestamp},
	etl.Field{Name: "dec", Type: etl.TypeDecimal, Precision: 38, Scale: 10},
	etl.Field{Name: "u", Type: etl.TypeUUID},
	// An array of each element type: PostgreSQL arrays, JSON elsewhere.
	etl.Field{Name: "a_s", Type: etl.TypeArray, Elem: etl.TypeString},
	etl.Field{Name: "a_i", Type: etl.TypeArray, Elem: etl.TypeInt},
	etl.Field{Name: "a_f", Type: etl.TypeArray, Elem: etl.TypeFloat},
	etl.Field{Name: "a_b", Type: etl.TypeArray, Elem: etl.TypeBool},
	etl.Field{Name: "a_ts", Type: etl.TypeArray, Elem: etl.TypeTimestamp},
	etl.Field{Name: "a_d", Type: etl.TypeArray, Elem: etl.TypeDate},
	etl.Field{Name: "a_bin", Type: etl.TypeArray, Elem: etl.TypeBytes},
	etl.Field{Name: "a_lts", Type: etl.TypeArray, Elem: etl.TypeLocalTimestamp},
	etl.Field{Name: "a_dec", Type: etl.TypeArray, Elem: etl.TypeDecimal},
	etl.Field{Name: "a_u", Type: etl.TypeArray, Elem: etl.TypeUUID},
)

// Generators of each type's values, edge values weighted in.
var (
	genString = rapid.OneOf(
		rapid.SampledFrom([]string{"", " ", "a", "A", "a ", "á", "🦉", "🐍", "\t\n", `'"\`, "NULL", "null", "0", "-0", "ß", "İ", "\u00a0", "e\u0301", strings.Repeat("x", 300)}),
		rapid.StringMatching(`[\PC]{0,20}`),
	)
	genInt = rapid.OneOf(
		rapid.SampledFrom([]int64{0, -1, 1, math.MaxInt64, math.MinInt64, 1 << 53, 1<<53 + 1, -(1<<53 + 1)}),
		rapid.Int64(),
	)
	genFloat = rapid.OneOf(
		rapid.SampledFrom([]float64{0, math.Copysign(0, -1), 0.1, 0.1 + 0.2, 2789, -1.5, 1e21, 1e-7, 5e-324, math.SmallestNonzeroFloat64 * 3, math.MaxFloat64, -math.MaxFloat64, 1 << 53}),
		rapid.Float64().Filter(func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }),
	)
	// Instants in years 1-9999, to the microsecond (what every database
	// here keeps).
	genTime = rapid.Custom(func(t *rapid.T) time.Time {
		lo := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
		hi := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
		edge := rapid.SampledFrom([]int64{lo, hi, 0, -1, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC).UnixMicro()})
		return time.UnixMicro(rapid.OneOf(edge, rapid.Int64Range(lo, hi)).Draw(t, "micros")).UTC()
	})
	genDate = rapid.OneOf(
		rapid.SampledFrom([]time.Time{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)}),
		rapid.Custom(func(t *rapid.T) time.Time {
			return time.Date(rapid.IntRange(1, 9999).Draw(t, "year"), time.Month(rapid.IntRange(1, 12).Draw(t, "month")), rapid.IntRange(1, 28).Draw(t, "day"), 0, 0, 0, 0, time.UTC)
		}),
	)
	// Bytes: empty, a NUL, not UTF-8, text, random.
	genBytes = rapid.OneOf(
		rapid.SampledFrom([][]byte{{}, {0}, {0xff, 0xfe, 0xfd}, []byte("a\x00b"), []byte("🦉"), {0xc3}, []byte("\\N\t\n")}),
		rapid.SliceOfN(rapid.Byte(), 0, 40),
	)
	// Decimals of NUMERIC(38,10), spelled as the databases spell them
	// (every fraction digit).
	genDecimal = rapid.OneOf(
		rapid.SampledFrom([]string{"0.0000000000", "1.0000000000", "-0.0000000001", "9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999", "0.1000000000", "123456789012345678.0123456789"}),
		rapid.Custom(func(t *rapid.T) string {
			whole := rapid.StringMatching(`[1-9][0-9]{0,27}|0`).Draw(t, "whole")
			frac := rapid.StringMatching(`[0-9]{10}`).Draw(t, "frac")
			s := whole + "." + frac
			if rapid.Bool().Draw(t, "negative") && strings.Trim(s, "0.") != "" {
				s = "-" + s
			}
			return s
		}),
	)
	genJSON = rapid.Custom(func(t *rapid.T) any {
		scalar := rapid.OneOf(
			rapid.Map(genString, func(s string) any { return s }),
			rapid.Map(rapid.Int64Range(-1<<40, 1<<40), func(n int64) any { return json.Number(strconv.FormatInt(n, 10)) }),
			rapid.Map(rapid.Bool(), func(b bool) any { return b }),
			rapid.Just[any](nil),
		)
		switch rapid.IntRange(0, 2).Draw(t, "shape") {
		case 0:
			return rapid.MapOf(rapid.StringMatching(`[a-zA-Zé ]{0,6}`), scalar).Draw(t, "object")
		case 1:
			return rapid.SliceOfN(scalar, 0, 4).Draw(t, "array")
		}
		return scalar.Draw(t, "scalar")
	})
)

// genElement draws one element of an array of elem as etl.ArrayElement
// holds it, null with probability 1/6.
func genElement(t *rapid.T, elem etl.Type) any {
	if rapid.IntRange(0, 5).Draw(t, "null element") == 0 {
		return nil
	}
	col := etl.NewColumn(elem, 1)
	appendRandom(t, &col)
	return etl.ArrayElement(&col, 0)
}

// genArray draws an array of elem: one dimension of 0-4 elements, or two
// of 1-3 by 1-3.
func genArray(t *rapid.T, elem etl.Type) []any {
	if rapid.IntRange(0, 3).Draw(t, "2-D") > 0 {
		arr := make([]any, rapid.IntRange(0, 4).Draw(t, "length"))
		for k := range arr {
			arr[k] = genElement(t, elem)
		}
		return arr
	}
	rows, cols := rapid.IntRange(1, 3).Draw(t, "rows"), rapid.IntRange(1, 3).Draw(t, "cols")
	arr := make([]any, rows)
	for k := range arr {
		inner := make([]any, cols)
		for l := range inner {
			inner[l] = genElement(t, elem)
		}
		arr[k] = inner
	}
	return arr
}

// appendRandom appends a random non-null value of col's type.
func appendRandom(t *rapid.T, col *etl.Column) {
	switch col.Type {
	case etl.TypeString:
		col.AppendString(genString.Draw(t, "s"))
	case etl.TypeInt:
		col.AppendInt(genInt.Draw(t, "i"))
	case etl.TypeFloat:
		col.AppendFloat(genFloat.Draw(t, "f"))
	case etl.TypeBool:
		col.AppendBool(rapid.Bool().Draw(t, "b"))
	case etl.TypeTimestamp:
		col.AppendTime(genTime.Draw(t, "ts"))
	case etl.TypeDate:
		col.AppendTime(genDate.Draw(t, "d"))
	case etl.TypeJSON:
		v := genJSON.Draw(t, "j")
		if v == nil {
			v = etl.JSONNull // a JSON null, not SQL NULL
		}
		col.AppendJSON(v)
	case etl.TypeBytes:
		col.AppendString(string(genBytes.Draw(t, "bin")))
	case etl.TypeDecimal:
		col.AppendString(genDecimal.Draw(t, "dec"))
	case etl.TypeUUID:
		u := rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "u")
		col.AppendString(fmt.Sprintf("%x-%x-%x-%x-%x", u[:4], u[4:6], u[6:8], u[8:10], u[10:]))
	case etl.TypeLocalTimestamp:
		col.AppendTime(genTime.Draw(t, "lts")) // a wall clock, held in UTC
	default:
		t.Fatalf("no generator for type %s", col.Type)
	}
}

// randomBatch returns rows random rows of schema with ids 1..rows, each
// value null with probability 1/8; rows only of nulls or of extreme values
// are always among them. With odd, a float array holds NaN or an infinity
// (which a JSON target refuses) in one row, and UUIDs are of any version
// (MariaDB's UUID type refuses some of 8 or more); without, UUIDs are of
// version 4: not in every table, or no copy to MariaDB or a JSON target
// would be checked.
func randomBatch(t *rapid.T, rows int, odd bool) *etl.Batch {
	b := etl.NewBatch(schema, rows)
	for r := range rows {
		b.Cols[0].AppendInt(int64(r + 1))
		for c := 1; c < len(b.Cols); c++ {
			col := &b.Cols[c]
			if r == 0 || rapid.IntRange(0, 7).Draw(t, "null") == 0 {
				col.AppendNull()
				continue
			}
			if col.Type == etl.TypeArray {
				col.AppendJSON(genArray(t, schema.Field(c).Elem))
				continue
			}
			appendRandom(t, col)
		}
		b.Origins = append(b.Origins, etl.Origin{Line: int64(r + 2)})
	}
	if !odd {
		col := b.Col("u")
		for r := range col.Str {
			col.Str[r] = version4(col.Str[r])
		}
	} else {
		col := b.Col("a_f")
		r := rapid.IntRange(0, rows-1).Draw(t, "non-JSON row")
		bad := rapid.SampledFrom([]float64{math.NaN(), math.Inf(1), math.Inf(-1)}).Draw(t, "non-JSON float")
		col.JSON[r], col.Null[r] = []any{1.5, bad, nil}, false
	}
	b.Seq, b.Position = 1, etl.Position(`{"offset":0}`)
	return b
}

// holdable returns b as a database can hold it, for a source table: a
// MariaDB DOUBLE or SQLite REAL has no negative zero, JSON (an array's
// form there) no NaN or infinity (a target refuses them).
func holdable(b *etl.Batch, dialect string) *etl.Batch {
	if dialect == "postgres" {
		return b
	}
	out := etl.NewBatch(b.Schema, b.Len())
	for c := range b.Cols {
		for r := range b.Len() {
			v := b.Cols[c].Value(r)
			if f, ok := v.(float64); ok && f == 0 {
				v = 0.0
			}
			if arr, ok := v.([]any); ok {
				v = jsonHoldable(arr)
			}
			if s, ok := v.(string); ok && b.Cols[c].Type == etl.TypeUUID {
				v = version4(s)
			}
			out.Cols[c].Append(v)
		}
	}
	out.Origins, out.Seq, out.Position = b.Origins, b.Seq, b.Position
	return out
}

// version4 returns UUID u as of version 4, which MariaDB's UUID type
// takes whatever its variant.
func version4(u string) string {
	if len(u) != 36 {
		return u
	}
	return u[:14] + "4" + u[15:]
}

// jsonHoldable returns arr with its NaN and infinite elements null.
func jsonHoldable(arr []any) []any {
	out := make([]any, len(arr))
	for k, e := range arr {
		switch x := e.(type) {
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				e = nil
			}
		case []any:
			e = jsonHoldable(x)
		}
		out[k] = e
	}
	return out
}

// copyTable reads every row of src in chunks and writes them to tg,
// committing at the end, as a run does.
func copyTable(ctx context.Context, src etl.Source, tg etl.Target, table string) (int, error) {
	if err := src.Open(ctx, etl.SourceEnv{Job: "rt", BatchSize: 16}); err != nil {
		return 0, err
	}
	defer src.Close(context.Background())
	if err := tg.Open(ctx, etl.TargetEnv{Job: "rt", Name: "table " + table, RunID: 1}); err != nil {
		return 0, err
	}
	defer tg.Close()
	n := 0
	for seq := int64(1); ; seq++ {
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			break
		}
		if err != nil {
			return n, err
		}
		b.Seq = seq
		if err := tg.Write(ctx, b); err != nil {
			return n, err
		}
		n += b.Len()
	}
	if err := tg.Commit(ctx); err != nil {
		return n, err
	}
	return n, tg.Close()
}

// readRows reads src by id into rows of values, and the types of the
// fields read.
func readRows(ctx context.Context, src etl.Source) (map[int64]map[string]any, *etl.Schema, error) {
	if err := src.Open(ctx, etl.SourceEnv{Job: "rt", BatchSize: 1000}); err != nil {
		return nil, nil, err
	}
	defer src.Close(context.Background())
	out := map[int64]map[string]any{}
	var types *etl.Schema
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			return out, types, nil
		}
		types = b.Schema
		if err != nil {
			return nil, nil, err
		}
		for i := range b.Len() {
			row := b.Row(i)
			id, _ := row["id"].(int64)
			out[id] = row
		}
	}
}

// canonical spells a value of logical type t as the test compares it: v
// is whatever a database's source read, as a field of type as (a SQLite
// time or JSON is text; a MariaDB boolean an integer).
func canonical(t, as etl.Type, v any) (string, error) {
	if v == nil {
		return "NULL", nil
	}
	switch t {
	case etl.TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case etl.TypeInt:
		switch x := v.(type) {
		case int64:
			return strconv.FormatInt(x, 10), nil
		case string:
			return x, nil
		}
	case etl.TypeFloat:
		if f, ok := v.(float64); ok {
			return strconv.FormatFloat(f, 'g', -1, 64), nil
		}
	case etl.TypeBool:
		switch x := v.(type) {
		case bool:
			return strconv.FormatBool(x), nil
		case int64: // MySQL and MariaDB have no boolean type: 0 or 1
			if x == 0 || x == 1 {
				return strconv.FormatBool(x == 1), nil
			}
		}
	case etl.TypeDecimal, etl.TypeUUID:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case etl.TypeBytes:
		if b, ok := v.([]byte); ok {
			return base64.StdEncoding.EncodeToString(b), nil
		}
	case etl.TypeTimestamp, etl.TypeDate, etl.TypeLocalTimestamp:
		tm, ok := v.(time.Time)
		if s, isText := v.(string); isText {
			var err error
			if tm, err = sqlconn.ParseTime(s); err != nil {
				return "", err
			}
			ok = true
		}
		if ok && t == etl.TypeLocalTimestamp {
			if tm.Location() != time.UTC {
				return "", fmt.Errorf("a local timestamp read in zone %s", tm.Location())
			}
			return tm.Format(etl.LocalLayout), nil
		}
		if ok {
			if t == etl.TypeDate {
				return tm.UTC().Format(time.DateOnly), nil
			}
			return tm.UTC().Format(time.RFC3339Nano), nil
		}
	case etl.TypeJSON:
		if s, ok := v.(string); ok && as == etl.TypeString {
			dec := json.NewDecoder(strings.NewReader(s))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return "", err
			}
		}
		out, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		// Through json.Marshal again, so that numbers and key order are
		// spelled one way.
		var again any
		dec := json.NewDecoder(strings.NewReader(string(out)))
		dec.UseNumber()
		dec.Decode(&again)
		out, err = json.Marshal(again)
		return string(out), err
	}
	return "", fmt.Errorf("a %T (%v) where a %s was written", v, v, t)
}

// canonicalArray spells an array of elem as the test compares it: v is
// the array as read (as an array, or as JSON in a JSON column or text).
func canonicalArray(elem, as etl.Type, v any) (string, error) {
	if v == nil {
		return "NULL", nil
	}
	asJSON := as != etl.TypeArray
	if s, ok := v.(string); ok && asJSON {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	err := spellArray(&b, v, asJSON && elem == etl.TypeFloat)
	return b.String(), err
}

// spellArray spells an array's value (nested []any of etl.ArrayElement
// values, or of JSON values) one way: numbers in Go's shortest form (NaN
// too), bytes in base64, strings quoted. floatJSON spells the numbers of
// a float array held as JSON as a JSON reader takes them, float64 values
// (PostgreSQL's jsonb spells 1e+21 as 1000000000000000000000, and has no
// -0).
func spellArray(b *strings.Builder, v any, floatJSON bool) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case []any:
		b.WriteByte('[')
		for k, e := range x {
			if k > 0 {
				b.WriteByte(',')
			}
			if err := spellArray(b, e, floatJSON); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		if floatJSON && x == 0 {
			x = 0
		}
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case json.Number:
		if n, err := x.Int64(); err == nil && !floatJSON {
			b.WriteString(strconv.FormatInt(n, 10))
			return nil
		}
		f, err := x.Float64()
		if err != nil {
			return err
		}
		return spellArray(b, f, floatJSON)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		b.WriteString(strconv.Quote(x))
	case []byte:
		b.WriteString(strconv.Quote(base64.StdEncoding.EncodeToString(x)))
	default:
		return fmt.Errorf("a %T (%v) in an array", v, v)
	}
	return nil
}

var update = flag.Bool("update", false, "rewrite docs/types.md from the code and the round trip")

// checkTypesDoc renders docs/types.md from the dialects' column types and
// the field types the round trip read back, and compares it with the file
// (or rewrites it with -update).
func checkTypesDoc(t *testing.T, dialects []dialect, readBack map[[3]string]string) {
	t.Helper()
	columnTypes := []struct {
		name string
		d    sqlconn.Dialect
	}{{"PostgreSQL", postgres.Dialect{}}, {"MariaDB / MySQL", mysql.Dialect{}}, {"SQLite", sqlite.Dialect{}}}
	var b strings.Builder
	b.WriteString(typesDocHead)
	b.WriteString("\n## The column a field becomes\n\nWhen nightjar creates a table or adds a column (`Dialect.ColumnType`):\n\n| field type |")
	for _, c := range columnTypes {
		b.WriteString(" " + c.name + " |")
	}
	b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(columnTypes)) + "\n")
	for i := 1; i < schema.Len(); i++ {
		b.WriteString("| " + schema.Field(i).TypeString() + " |")
		for _, c := range columnTypes {
			b.WriteString(" `" + c.d.ColumnType(schema.Field(i)) + "` |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\nOn MariaDB 10.7 and later (the server's version is read at connect) a uuid field becomes `" +
		mysql.ColumnTypeOn("10.7.0-MariaDB", etl.Field{Type: etl.TypeUUID}) + "`, which its source reads back as uuid; MySQL and older MariaDB have no UUID type (the table above). The tables below were observed on MariaDB 10.7 or later.\n")
	b.WriteString("\nA string merge key on MariaDB / MySQL is `VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin` (MySQL 8: `utf8mb4_0900_bin`): keys compare byte for byte.\n")
	b.WriteString("\n## What a copy reads back\n\nThe field type a table's source reads, after a copy from the row's database to the column's (observed by the round-trip test, every ordered pair, append and merge):\n")
	for i := 1; i < schema.Len(); i++ {
		ft := schema.Field(i).TypeString()
		b.WriteString("\n**" + ft + "**\n\n| from \\ to |")
		for _, to := range dialects {
			b.WriteString(" " + to.name + " |")
		}
		b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(dialects)) + "\n")
		for _, from := range dialects {
			b.WriteString("| " + from.name + " |")
			for _, to := range dialects {
				got := readBack[[3]string{ft, from.name, to.name}]
				if got == "" {
					got = "?"
				}
				if got != ft {
					got = "**" + got + "**"
				}
				b.WriteString(" " + got + " |")
			}
			b.WriteString("\n")
		}
	}
	b.WriteString(typesDocRules)
	if len(readBack) < (schema.Len()-1)*len(dialects)*len(dialects) {
		// Every copy of some pair was refused (a -0 in each table):
		// nothing to say of that pair this time.
		t.Logf("docs/types.md not checked: %d of %d (type, pair) read back", len(readBack), (schema.Len()-1)*len(dialects)*len(dialects))
		return
	}
	path := filepath.Join("..", "..", "..", "..", "docs", "types.md")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	old, err := os.ReadFile(path)
	if err != nil || string(old) != b.String() {
		t.Errorf("docs/types.md is not what the code says (err %v): run go test ./connectors/internal/sqlconn/roundtrip -update", err)
	}
}

const typesDocHead = `# Column types between databases

Generated by ` + "`go test ./connectors/internal/sqlconn/roundtrip -update`" + ` from the dialects' code and what the round-trip test read back; do not edit by hand.

nightjar's field types are string, int, float, bool, timestamp (an instant, UTC), date, json, bytes (binary data), local_timestamp (a wall-clock time with no zone), decimal (exact, with its precision and scale), uuid and array (of one element type); etl/types.go holds each type's names, storage, text form, order and column types in one table. A copy between PostgreSQL, MariaDB / MySQL and SQLite keeps every value exactly, or fails naming the row, the field, the value and the column type; TestRoundTrip checks this on random tables of every type for every ordered pair, in append and merge.
`

const typesDocRules = `
A **bold** type is not the type written: the value is the same, its spelling another (SQLite keeps times, dates and JSON as text, MariaDB keeps booleans as 0 or 1 and JSON as text).

## Rules

- **Refused, not changed.** -0 into a MariaDB / MySQL DOUBLE or a SQLite REAL (neither keeps the sign of zero), NaN into SQLite (it would store null), a timestamp or date outside the years 1-9999 into MariaDB / MySQL or SQLite: by default the run fails naming the row, field, value and column type; the target's ` + "`on_unrepresentable: reject`" + ` quarantines the row instead, ` + "`null`" + ` stores NULL and counts them in the log. MariaDB refuses NaN and infinities itself; PostgreSQL's infinite timestamps fail the read naming the column.
- **JSON null is a value.** A JSON ` + "`null`" + ` is read as etl.JSONNull and written as JSON ` + "`null`" + `; SQL NULL stays NULL.
- **Go's zero time** (0001-01-01 00:00:00 UTC) lands in MariaDB as 0001-01-01, not as the zero date 0000-00-00.
- **Booleans from integers** must be 0 or 1: a SQLite BOOLEAN holding 2 fails the read naming its column.
- **Merge keys** compare byte for byte wherever nightjar creates the table; a merge into a table whose key collation would merge distinct keys (a, A, á, "a ") fails naming them.
- **Source keys** must identify a row: a repeated (cursor, key), values the database holds equal (a case-insensitive collation, NOCASE) or a null key fail the read; rows with a null cursor are counted and logged.
- **SQLite cursors** compare the stored values as they are (epoch integers, text times to any precision).
- **Instants and local timestamps.** PostgreSQL ` + "`timestamptz`" + ` and MariaDB / MySQL ` + "`TIMESTAMP`" + ` are instants; PostgreSQL ` + "`timestamp`" + ` (without time zone) and MariaDB / MySQL ` + "`DATETIME`" + ` are local timestamps, read as their wall clock whatever the session's time zone and written as ` + "`TIMESTAMP`" + ` / ` + "`DATETIME(6)`" + `. MariaDB / MySQL has no zone-aware type for years 1-9999, so an instant lands in ` + "`DATETIME(6)`" + ` as its UTC wall clock and reads back as a local timestamp (the same digits, no zone): the table above shows it in bold.
- **Bytes.** PostgreSQL ` + "`bytea`" + `, MariaDB / MySQL ` + "`BINARY`, `VARBINARY`, `BLOB` (every size) and `BIT`" + `, SQLite ` + "`BLOB`" + ` are read as bytes and written as ` + "`BYTEA` / `LONGBLOB` / `BLOB`" + `. In text outputs (CSV, JSON, XLSX, a cast to string) bytes are standard base64 (RFC 4648, with padding); a cast from string to bytes reads base64. Bytes into MariaDB go through INSERT, not LOAD DATA (which reads its file in one character set). Text that is not valid UTF-8 in a text column fails the read naming the column.
- **Decimals.** PostgreSQL ` + "`NUMERIC`" + ` and MariaDB / MySQL ` + "`DECIMAL`" + ` are read as decimals, their digits as the database spells them, with the column's precision and scale: a ` + "`NUMERIC(38,10)`" + ` lands as ` + "`NUMERIC(38,10)`" + ` / ` + "`DECIMAL(38,10)`" + ` and as text in SQLite (which has no exact decimal). A decimal without a precision (PostgreSQL ` + "`NUMERIC`" + `, a cast) lands as ` + "`NUMERIC`" + ` in PostgreSQL and as text in MariaDB / MySQL (whose ` + "`DECIMAL`" + ` without a precision is ` + "`DECIMAL(10,0)`" + `, which rounds), as does a precision MariaDB cannot hold (over 65 digits, over 30 after the point). PostgreSQL's ` + "`NaN`" + ` and infinities are not decimals: the read fails naming the column. Text outputs write the digits; JSON writes them as a string, so that a reader parsing numbers as floats keeps every digit.
- **UUIDs.** PostgreSQL ` + "`uuid`" + ` and MariaDB ` + "`UUID`" + ` columns are read as uuids and written as ` + "`uuid`" + ` in PostgreSQL, ` + "`UUID`" + ` in MariaDB 10.7 and later, ` + "`CHAR(36)`" + ` in MySQL and older MariaDB (read back as text) and text in SQLite, lower-case 8-4-4-4-12. A query's MariaDB UUID column is read as text (the driver names it CHAR; a table's are found in information_schema). MariaDB's UUID type refuses some values PostgreSQL's takes (a version digit of 8 or more with some variants, e.g. ` + "`ffd8293b-8d01-ff0d-8020-462d03b56b5e`" + `): the server judges each value before the load, and the run fails naming the row, the field and the value.
- **Arrays.** A PostgreSQL array of any type above but json (` + "`int2[]`…`int8[]`, `float4[]`, `float8[]`, `bool[]`, `text[]`, `varchar[]`, `char[]`, `numeric[]`, `uuid[]`, `timestamptz[]`, `timestamp[]`, `date[]`, `bytea[]`" + `) is read as an **array field carrying its element type** (` + "`array(int)`" + `), with NULL elements, empty arrays and any number of dimensions. The rule: into PostgreSQL it lands as an array of its element's column type (` + "`BIGINT[]`, `TEXT[]`, `NUMERIC[]`" + ` … when nightjar creates the column; an existing array column, ` + "`int4[]`" + ` say, takes it converted by PostgreSQL, which refuses what does not fit); everywhere else (MariaDB / MySQL ` + "`JSON`" + `, SQLite ` + "`TEXT`" + `, JSON, CSV and Parquet files) it is a **JSON array**, nested for each dimension, its elements spelled as the element type is in text outputs: numbers and booleans as JSON's, decimals, UUIDs, dates and times as strings (timestamps RFC 3339 in UTC, local timestamps without a zone), bytes as base64, NULL elements as ` + "`null`" + `. Parquet writes it as text with the JSON logical type (not a LIST: one rule for every number of dimensions). An array holding NaN or an infinity has no JSON form: into a JSON target the run fails naming the row, the field, the element and the column type, or follows ` + "`on_unrepresentable`" + `. An array whose index does not start at 1 (` + "`[0:2]={1,2,3}`" + `) fails the read naming the column: neither form keeps its bounds. A read-back array from MariaDB or SQLite is JSON (the table above shows it in bold).
- **interval, inet, json[]** (and other PostgreSQL types without a field type) are read as PostgreSQL's text for them (` + "`1 day 02:00:00`, `192.168.0.1/24`" + `) and land as text: the stated rule until they have types of their own.`

// TestMain makes 6 random tables the default of -rapid.checks: each has
// 21 fields (an array of every element type among them) and is copied 18
// ways.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set {
		flag.Set("rapid.checks", "6")
	}
	os.Exit(m.Run())
}

// TestRoundTrip copies random rows of every type from each database to
// each (append and merge, the merge run twice), reading in chunks that
// cross: every value must arrive exactly, or the copy must fail naming
// its column.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	start := time.Now()
	dialects := []dialect{postgresDialect(t), mysqlDialect(t), sqliteDialect(t)}
	ctx := context.Background()
	cases := 0
	attempt := 0
	readBack := map[[3]string]string{}
	rapid.Check(t, func(rt *rapid.T) {
		attempt++ // fresh tables for each attempt, shrinking's too
		b := randomBatch(rt, rapid.IntRange(20, 40).Draw(rt, "rows"), attempt%3 == 0)
		suffix := strconv.Itoa(attempt)
		for _, from := range dialects {
			b := holdable(b, from.name)
			srcTable := "src" + suffix
			tg := from.target(t, sqlconn.TargetConfig{Table: srcTable, Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve, CommitRows: 1000})
			if err := tg.Open(ctx, etl.TargetEnv{Job: "rt", Name: "table " + srcTable, RunID: 1}); err != nil {
				rt.Fatal(err)
			}
			if err := tg.Write(ctx, b); err != nil {
				rt.Fatalf("%s: load the source table: %v", from.name, err)
			}
			if err := tg.Commit(ctx); err != nil {
				rt.Fatal(err)
			}
			tg.Close()
			for _, to := range dialects {
				for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge} {
					cases++
					name := fmt.Sprintf("%s→%s %s", from.name, to.name, mode)
					table := fmt.Sprintf("rt_%s_%s_%s%s", from.name, to.name, mode, suffix)
					cfg := sqlconn.TargetConfig{Table: table, Mode: mode, Schema: sqlconn.SchemaEvolve, CommitRows: 1000}
					if mode == sqlconn.ModeMerge {
						cfg.Key = []string{"id"}
					}
					runs := 1
					if mode == sqlconn.ModeMerge {
						runs = 2 // the second updates every row to itself
					}
					refused := false
					for range runs {
						n, err := copyTable(ctx, from.source(t, sqlconn.SourceConfig{Table: srcTable, Key: sqlconn.Names{"id"}}), to.target(t, cfg), table)
						if err != nil {
							checkNamed(rt, name, err)
							refused = true
							break
						}
						if n != b.Len() {
							rt.Fatalf("%s: copied %d rows of %d", name, n, b.Len())
						}
					}
					if refused {
						continue
					}
					got, types, err := readRows(ctx, to.source(t, sqlconn.SourceConfig{Table: table, Key: sqlconn.Names{"id"}}))
					if err != nil {
						rt.Fatalf("%s: read back: %v", name, err)
					}
					compare(rt, name, b, got, types)
					for i := 1; i < schema.Len(); i++ {
						f := schema.Field(i)
						if j := types.Index(f.Name); j >= 0 {
							readBack[[3]string{f.TypeString(), from.name, to.name}] = types.Field(j).TypeString()
						}
					}
				}
			}
		}
	})
	checkTypesDoc(t, dialects, readBack)
	t.Logf("%d copies × %d types = %d cases (type × ordered pair × mode × random table), 20-40 rows each, in %v",
		cases, schema.Len()-1, cases*(schema.Len()-1), time.Since(start).Round(time.Millisecond))
}

// checkNamed accepts a failed copy only when its error names a column.
func checkNamed(t *rapid.T, name string, err error) {
	for i := range schema.Len() {
		if strings.Contains(err.Error(), fmt.Sprintf("%q", schema.Field(i).Name)) {
			t.Logf("%s: refused, naming its column: %v", name, err)
			return
		}
	}
	t.Fatalf("%s: failed without naming a column: %v", name, err)
}

// compare checks every value of b against the rows read back.
func compare(t *rapid.T, name string, b *etl.Batch, got map[int64]map[string]any, types *etl.Schema) {
	if len(got) != b.Len() {
		t.Fatalf("%s: %d rows read back, want %d", name, len(got), b.Len())
	}
	for r := range b.Len() {
		id := b.Cols[0].Int[r]
		row := got[id]
		if row == nil {
			t.Fatalf("%s: row %d missing", name, id)
		}
		for c := 1; c < schema.Len(); c++ {
			f := schema.Field(c)
			as := etl.TypeString
			if i := types.Index(f.Name); i >= 0 {
				as = types.Field(i).Type
			}
			canon := func(as etl.Type, v any) (string, error) { return canonical(f.Type, as, v) }
			wantAs := f.Type
			if f.Type == etl.TypeArray {
				canon = func(as etl.Type, v any) (string, error) { return canonicalArray(f.Elem, as, v) }
				wantAs = as // a float array read back as JSON: its numbers as JSON's
			}
			want, err := canon(wantAs, b.Cols[c].Value(r))
			if err != nil {
				t.Fatal(err)
			}
			have, err := canon(as, row[f.Name])
			if err != nil || have != want {
				t.Fatalf("%s: row %d column %q: wrote %s, read back %q (%v)", name, id, f.Name, want, have, err)
			}
		}
	}
}
