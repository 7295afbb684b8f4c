package sqlconn

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

// pgLike is a dialect with numbered placeholders, case-sensitive quoted
// identifiers and a 63-byte name limit, to show sqlconn stays neutral.
type pgLike struct{}

func (pgLike) Name() string                        { return "pglike" }
func (pgLike) QuoteIdent(n string) (string, error) { return Quote(n, '"', 63) }
func (pgLike) IdentKey(n string) string            { return n }
func (pgLike) ColumnType(f etl.Field) string       { return strings.ToUpper(f.Type.String()) }
func (pgLike) Placeholder(n int) string            { return "$" + strconv.Itoa(n) }
func (pgLike) MaxParams() int                      { return 7 }
func (pgLike) UpsertClause(keys, upd []string) string {
	return " ON CONFLICT (" + strings.Join(keys, ",") + ") SET " + strings.Join(upd, ",")
}

// mysqlLike quotes with backticks and folds case.
type mysqlLike struct{ pgLike }

func (mysqlLike) QuoteIdent(n string) (string, error) { return Quote(n, '`', 64) }
func (mysqlLike) IdentKey(n string) string            { return FoldASCII(n) }

func TestQuote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		q       byte
		max     int
		want    string
		wantErr bool
	}{
		{"order", '"', 0, `"order"`, false},
		{`say "hi"`, '"', 0, `"say ""hi"""`, false},
		{"E-Mail Address", '"', 0, `"E-Mail Address"`, false},
		{"größe", '"', 0, `"größe"`, false},
		{"a`b", '`', 0, "`a``b`", false},
		{`'); DROP TABLE x; --`, '"', 0, `"'); DROP TABLE x; --"`, false},
		{strings.Repeat("x", 63), '"', 63, `"` + strings.Repeat("x", 63) + `"`, false},
		{strings.Repeat("x", 64), '"', 63, "", true},
		{strings.Repeat("ö", 32), '"', 63, "", true}, // 64 bytes
		{"", '"', 0, "", true},
		{"a\x00b", '"', 0, "", true},
		{"\xff", '"', 0, "", true},
	}
	for _, tt := range tests {
		got, err := Quote(tt.name, tt.q, tt.max)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Quote(%q, %c, %d) = %q, %v; want %q, error %v", tt.name, tt.q, tt.max, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrBadIdentifier) {
			t.Errorf("Quote(%q): error %v does not wrap ErrBadIdentifier", tt.name, err)
		}
	}
	_, err := Quote(strings.Repeat("y", 70), '"', 63)
	if err == nil || !strings.Contains(err.Error(), "70 bytes") || !strings.Contains(err.Error(), "at most 63") {
		t.Errorf("long name error %v does not give the lengths", err)
	}
}

func TestFoldASCII(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"Email": "email", "email": "email", "GRÖSSE": "grÖsse", "": ""} {
		if got := FoldASCII(in); got != want {
			t.Errorf("FoldASCII(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInsertSQL(t *testing.T) {
	t.Parallel()
	ins, err := NewInsert(pgLike{}, "my table", []string{"id", "Name", "e\"mail"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `INSERT INTO "my table" ("id", "Name", "e""mail") VALUES ($1,$2,$3),($4,$5,$6)`
	if got := ins.SQL(2); got != want {
		t.Errorf("SQL(2) =\n%s\nwant\n%s", got, want)
	}
	if got := ins.RowsPerStatement(0); got != 2 { // 7 params / 3 columns
		t.Errorf("RowsPerStatement(0) = %d, want 2", got)
	}
	if got := ins.RowsPerStatement(1); got != 1 {
		t.Errorf("RowsPerStatement(1) = %d, want 1", got)
	}
	wide, _ := NewInsert(pgLike{}, "t", strings.Split("a b c d e f g h", " "), nil)
	if got := wide.RowsPerStatement(0); got != 1 {
		t.Errorf("more columns than parameters: RowsPerStatement = %d, want 1", got)
	}
}

func TestUpsertSQL(t *testing.T) {
	t.Parallel()
	ins, err := NewInsert(mysqlLike{}, "t", []string{"Region", "id", "name"}, []string{"id", "region"})
	if err != nil {
		t.Fatal(err)
	}
	want := "INSERT INTO `t` (`Region`, `id`, `name`) VALUES ($1,$2,$3) ON CONFLICT (`id`,`Region`) SET `name`"
	if got := ins.SQL(1); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := NewInsert(pgLike{}, "t", []string{"Region", "id"}, []string{"region"}); err == nil {
		t.Error("case-sensitive dialect matched key region to column Region")
	}
	if _, err := NewInsert(pgLike{}, "t", nil, nil); err == nil {
		t.Error("insert without columns accepted")
	}
}

func TestDDL(t *testing.T) {
	t.Parallel()
	s := etl.MustSchema(etl.Field{Name: "select", Type: etl.TypeString}, etl.Field{Name: "n", Type: etl.TypeInt})
	got := []string{}
	for _, f := range []func() (string, error){
		func() (string, error) { return CreateTable(pgLike{}, "order", s) },
		func() (string, error) {
			return AddColumn(pgLike{}, "order", etl.Field{Name: "größe", Type: etl.TypeFloat})
		},
		func() (string, error) {
			return CreateUniqueIndex(pgLike{}, "order_key", "order", []string{"select", "n"})
		},
		func() (string, error) { return DropTable(pgLike{}, "order") },
	} {
		q, err := f()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, q)
	}
	want := []string{
		`CREATE TABLE "order" ("select" STRING, "n" INT)`,
		`ALTER TABLE "order" ADD COLUMN "größe" FLOAT`,
		`CREATE UNIQUE INDEX IF NOT EXISTS "order_key" ON "order" ("select", "n")`,
		`DROP TABLE IF EXISTS "order"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := CreateTable(pgLike{}, "t", etl.MustSchema(etl.Field{Name: strings.Repeat("x", 64), Type: etl.TypeInt})); !errors.Is(err, ErrBadIdentifier) {
		t.Errorf("too long column name: err = %v", err)
	}
}

func TestTableColumns(t *testing.T) {
	t.Parallel()
	cols := NewTableColumns(mysqlLike{}, []string{"Email", "name", "legacy"})
	s := etl.MustSchema(
		etl.Field{Name: "email", Type: etl.TypeString},
		etl.Field{Name: "NAME", Type: etl.TypeString},
		etl.Field{Name: "score", Type: etl.TypeInt},
	)
	if diff := cmp.Diff([]etl.Field{{Name: "score", Type: etl.TypeInt}}, cols.Missing(s)); diff != "" {
		t.Errorf("Missing (-want +got):\n%s", diff)
	}
	err := cols.CheckStrict("leads", s)
	var mismatch *SchemaMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("CheckStrict = %v", err)
	}
	if diff := cmp.Diff([]string{"  Email", "  name", "- legacy", "+ score (int)"}, mismatch.Diff); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	cols.Add("SCORE")
	if err := cols.CheckStrict("leads", s); err != nil {
		t.Errorf("after Add: %v", err)
	}
	if diff := cmp.Diff([]string{"Email", "name", "legacy", "SCORE"}, cols.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	// A case-sensitive dialect tells Email and email apart.
	if got := NewTableColumns(pgLike{}, []string{"Email"}).Missing(s); len(got) != 3 {
		t.Errorf("case-sensitive Missing = %v, want all three fields", got)
	}
}

func TestCreateMarkerTable(t *testing.T) {
	t.Parallel()
	want := `CREATE TABLE IF NOT EXISTS "_nightjar_batches" ("job" STRING NOT NULL, "target" STRING NOT NULL, "batch_key" STRING NOT NULL, "table_name" STRING NOT NULL DEFAULT '', "run_id" INT, "rows" INT, "loaded_at" STRING, PRIMARY KEY ("job", "target", "batch_key"))`
	if got := CreateMarkerTable(pgLike{}); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
