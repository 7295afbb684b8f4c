package postgres

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/sqlite"
	"github.com/nightjar-etl/nightjar/etl"
)

// arrayColumns are array columns as users declare them, with values at
// the edges: null elements, empty arrays, two and three dimensions,
// quoting, the extremes of each element type.
var arrayColumns = []struct{ name, typ, values string }{
	{"i2", "int2[]", `'{-32768,NULL,32767}', '{}', NULL, '{{1,2},{3,4}}'`},
	{"i4", "int4[]", `'{1,NULL,3}', '{{{1},{2}},{{3},{4}}}', '{}', '{0}'`},
	{"i8", "int8[]", `'{9223372036854775807,-9223372036854775808}', '{NULL}', '{}', NULL`},
	{"f4", "float4[]", `'{1.1,-0,3.4028235e+38}', '{NaN}', '{}', '{-Infinity}'`},
	{"f8", "float8[]", `'{0.30000000000000004,-0,5e-324,1e+21}', '{Infinity,NULL}', '{{1.5}}', '{}'`},
	{"vc", "varchar(20)[]", `'{"a b","c\"d","NULL",NULL,"{}",",",""}', '{é,🦉}', '{}', '{{a,b},{c,d}}'`},
	{"tx", "text[]", `'{"\\\\",x}', '{" lead"}', '{}', NULL`},
	{"n", "numeric(10,2)[]", `'{1.50,-0.01,NULL}', '{99999999.99}', '{}', '{0.00}'`},
	{"b", "bool[]", `'{t,f,NULL}', '{}', '{{t},{f}}', '{f}'`},
	{"tstz", "timestamptz[]", `'{"2024-02-29 12:00:00.123456+00","0001-01-01 00:00:00+00",NULL}', '{"9999-12-31 23:59:59.999999+00"}', '{"1890-06-01 00:00:00+00","0001-01-01 00:30:00+00"}', '{}'`},
	{"ts", "timestamp[]", `'{"2024-02-29 12:00:00.5",NULL}', '{"0001-01-01 00:00:00"}', '{}', NULL`},
	{"d", "date[]", `'{2024-02-29,0001-01-01,9999-12-31}', '{}', '{NULL}', NULL`},
	{"by", "bytea[]", `'{"\\x00ff",NULL,"\\x"}', '{}', '{"\\x5c"}', NULL`},
	{"u", "uuid[]", `'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}', '{}', NULL, '{{00000000-0000-0000-0000-000000000000}}'`},
}

// arraySource creates a table of arrayColumns (4 rows) in a fresh schema
// and returns its schema, a pool on it, and a source reading it through a
// session in zone (its text for timestamptz elements carries the zone's
// offset).
func arraySource(t *testing.T, zone string) (string, *sqlx.DB, etl.Source) {
	t.Helper()
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	var cols, sel []string
	for _, c := range arrayColumns {
		cols = append(cols, c.name+" "+c.typ)
	}
	for r := range 4 {
		row := []string{string(rune('1' + r))}
		for _, c := range arrayColumns {
			row = append(row, splitValues(c.values)[r]+"::"+c.typ)
		}
		sel = append(sel, "("+strings.Join(row, ", ")+")")
	}
	if _, err := db.Exec(`CREATE TABLE src (id int PRIMARY KEY, ` + strings.Join(cols, ", ") + `)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO src VALUES ` + strings.Join(sel, ", ")); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(&SourceConfig{SourceConfig: sqlconn.SourceConfig{Table: "src", Key: sqlconn.Names{"id"}}, SchemaName: schema},
		etl.BuildEnv{Connection: connection(dsn + "&timezone=" + zone)})
	if err != nil {
		t.Fatal(err)
	}
	return schema, db, src
}

// splitValues splits a column's four SQL literals (none holds "', '").
func splitValues(s string) []string {
	parts := strings.Split(s, ", ")
	var out []string
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		for strings.HasPrefix(p, "'") && (len(p) == 1 || !strings.HasSuffix(p, "'")) {
			i++
			p += ", " + parts[i]
		}
		out = append(out, p)
	}
	return out
}

// copyAll copies every row of src to tg.
func copyAll(t *testing.T, src etl.Source, tg etl.Target) error {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, etl.SourceEnv{Job: "j", BatchSize: 3}); err != nil {
		return err
	}
	defer src.Close(ctx)
	if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t", RunID: 1}); err != nil {
		return err
	}
	defer tg.Close()
	for seq := int64(1); ; seq++ {
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			break
		}
		if err != nil {
			return err
		}
		b.Seq = seq
		for _, c := range arrayColumns {
			if f := b.Schema.Field(b.Schema.Index(c.name)); f.Type != etl.TypeArray {
				t.Fatalf("column %s (%s) read as %s, want an array", c.name, c.typ, f.TypeString())
			}
		}
		if err := tg.Write(ctx, b); err != nil {
			return err
		}
	}
	return tg.Commit(ctx)
}

// TestArraysLandAsPostgreSQLArrays copies a table of every array type a
// field reads (edge values, several dimensions, a session in a zone with
// a 5:45 offset and a historical one of seconds) into a table nightjar
// creates (binary COPY, each element type's array) and into a table whose
// columns are the source's own types (pgx's conversion), in append and
// merge: every value must equal the source's, as PostgreSQL compares
// their text.
func TestArraysLandAsPostgreSQLArrays(t *testing.T) {
	for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge} {
		for _, existing := range []bool{false, true} {
			schema, db, src := arraySource(t, "Asia/Kathmandu")
			if existing {
				if _, err := db.Exec(`CREATE TABLE dst (LIKE src)`); err != nil {
					t.Fatal(err)
				}
			}
			cfg := sqlconn.TargetConfig{Table: "dst", Mode: mode, Schema: sqlconn.SchemaEvolve, CommitRows: 1000}
			if mode == sqlconn.ModeMerge {
				cfg.Key = []string{"id"}
			}
			tg, err := New(&TargetConfig{TargetConfig: cfg, SchemaName: schema}, etl.BuildEnv{Connection: connection(testDSN(t))})
			if err != nil {
				t.Fatal(err)
			}
			if err := copyAll(t, src, tg); err != nil {
				t.Fatalf("%s, existing table %v: %v", mode, existing, err)
			}
			for _, c := range arrayColumns {
				var typ string
				if err := db.Get(&typ, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'dst'::regclass AND attname = $1`, c.name); err != nil {
					t.Fatal(err)
				}
				var differ []string
				if err := db.Select(&differ, `SELECT format('id %s: %s, want %s', s.id, d.`+c.name+`::text, s.`+c.name+`::text) FROM src s LEFT JOIN dst d USING (id) WHERE d.id IS NULL OR d.`+c.name+`::text IS DISTINCT FROM s.`+c.name+`::text`); err != nil {
					t.Fatal(err)
				}
				if len(differ) > 0 {
					t.Errorf("%s, existing table %v: column %s (%s, landed as %s): %s", mode, existing, c.name, c.typ, typ, strings.Join(differ, "; "))
				}
				if !existing && !strings.HasSuffix(typ, "[]") {
					t.Errorf("column %s (%s) landed as %s, want an array", c.name, c.typ, typ)
				}
			}
		}
	}
}

// TestArraysLandAsJSONElsewhere copies the arrays into SQLite: each lands
// as its JSON array (the stated rule), which SQLite's own JSON functions
// read element by element as PostgreSQL holds them; an array holding NaN
// or an infinity is refused naming the row, the field, the value and the
// column type, or follows on_unrepresentable.
func TestArraysLandAsJSONElsewhere(t *testing.T) {
	dir := t.TempDir()
	lite := etl.BuildEnv{BaseDir: dir, Connection: &etl.Connection{Name: "lite", Type: "sqlite", Config: &sqlite.ConnConfig{Path: "a.db"}}}
	_, _, src := arraySource(t, "UTC")
	cfg := sqlconn.TargetConfig{Table: "dst", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve, CommitRows: 1000}
	tg, err := sqlite.New(&cfg, lite)
	if err != nil {
		t.Fatal(err)
	}
	err = copyAll(t, src, tg)
	var unrep *sqlconn.UnrepresentableError
	if !errors.As(err, &unrep) || unrep.Field != "f4" || !strings.Contains(unrep.Value, "NaN") || unrep.Column != "SQLite TEXT (JSON)" || unrep.Origin.Cursor != "id=2" {
		t.Fatalf("NaN in an array into SQLite: got %v, want a refusal naming row id=2, field f4, NaN and SQLite TEXT (JSON)", err)
	}
	t.Logf("refused: %v", err)

	cfg.OnUnrepresentable = sqlconn.UnrepresentableReject
	if tg, err = sqlite.New(&cfg, lite); err != nil {
		t.Fatal(err)
	}
	_, _, src = arraySource(t, "UTC")
	if err := copyAll(t, src, tg); err != nil {
		t.Fatal(err)
	}
	out, err := sqlx.Open("sqlite3", filepath.Join(dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var ids []int
	if err := out.Select(&ids, `SELECT id FROM dst ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 3 { // rows 2 and 4 hold NaN, -Infinity
		t.Fatalf("rows landed: %v, want 1 and 3 (2 and 4 rejected)", ids)
	}
	for _, c := range arrayColumns {
		for _, id := range ids {
			var got *string
			if err := out.Get(&got, `SELECT `+c.name+` FROM dst WHERE id = ?`, id); err != nil {
				t.Fatal(err)
			}
			want, ok := arraysAsJSON[c.name][id]
			if have := deref(got); !ok || have != want {
				t.Errorf("id %d column %s (%s): SQLite holds %s, want %s", id, c.name, c.typ, have, want)
			}
		}
	}
}

// arraysAsJSON are rows 1 and 3 of arrayColumns as JSON arrays, "NULL"
// for SQL NULL: elements as etl.ArrayElement spells them (times in UTC,
// bytes in base64, decimals as strings with their digits).
var arraysAsJSON = map[string]map[int]string{
	"i2":   {1: `[-32768,null,32767]`, 3: `NULL`},
	"i4":   {1: `[1,null,3]`, 3: `[]`},
	"i8":   {1: `[9223372036854775807,-9223372036854775808]`, 3: `[]`},
	"f4":   {1: `[1.1,-0,3.4028235e+38]`, 3: `[]`}, // a real's shortest text
	"f8":   {1: `[0.30000000000000004,-0,5e-324,1e+21]`, 3: `[[1.5]]`},
	"vc":   {1: `["a b","c\"d","NULL",null,"{}",",",""]`, 3: `[]`},
	"tx":   {1: `["\\\\","x"]`, 3: `[]`},
	"n":    {1: `["1.50","-0.01",null]`, 3: `[]`},
	"b":    {1: `[true,false,null]`, 3: `[[true],[false]]`},
	"tstz": {1: `["2024-02-29T12:00:00.123456Z","0001-01-01T00:00:00Z",null]`, 3: `["1890-06-01T00:00:00Z","0001-01-01T00:30:00Z"]`},
	"ts":   {1: `["2024-02-29T12:00:00.5",null]`, 3: `[]`},
	"d":    {1: `["2024-02-29","0001-01-01","9999-12-31"]`, 3: `[null]`},
	"by":   {1: `["AP8=",null,""]`, 3: `["XA=="]`}, // base64 of 00 ff, of nothing, of \
	"u":    {1: `["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",null]`, 3: `NULL`},
}

func deref(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}
