package sqlconn

import (
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

func TestKeysetQuery(t *testing.T) {
	t.Parallel()
	schema := etl.MustSchema(
		etl.Field{Name: "updated_at", Type: etl.TypeTimestamp},
		etl.Field{Name: "region", Type: etl.TypeString},
		etl.Field{Name: "id", Type: etl.TypeInt},
	)
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name     string
		d        Dialect
		rowValue bool
		last     []any
		lookback any
		want     string
		wantArgs []any
	}{
		{"start", pgLike{}, true, nil, nil,
			`SELECT * FROM "t" WHERE "updated_at" IS NOT NULL ORDER BY "updated_at", "region", "id" LIMIT 5`, nil},
		{"row values", pgLike{}, true, []any{at, "eu", int64(7)}, nil,
			`SELECT * FROM "t" WHERE "updated_at" IS NOT NULL AND ("updated_at", "region", "id") > ($1, $2, $3) ORDER BY "updated_at", "region", "id" LIMIT 5`,
			[]any{at, "eu", int64(7)}},
		{"spelled out", mysqlLike{}, false, []any{at, "eu", int64(7)}, nil,
			"SELECT * FROM `t` WHERE `updated_at` IS NOT NULL AND (`updated_at` > $1 OR (`updated_at` = $2 AND (`region` > $3 OR (`region` = $4 AND `id` > $5)))) ORDER BY `updated_at`, `region`, `id` LIMIT 5",
			[]any{at, at, "eu", "eu", int64(7)}},
		{"lookback", pgLike{}, true, []any{at, "eu", int64(7)}, at.Add(-time.Hour),
			`SELECT * FROM "t" WHERE "updated_at" IS NOT NULL AND "updated_at" >= $1 ORDER BY "updated_at", "region", "id" LIMIT 5`,
			[]any{at.Add(-time.Hour)}},
	}
	for _, tt := range tests {
		q, _ := tt.d.QuoteIdent("t")
		s := &Source{
			cfg: SourceConfig{Table: "t", Cursor: "updated_at", Key: Names{"region", "id"}},
			drv: SourceDriver{Dialect: tt.d, RowValues: tt.rowValue}, chunk: 4, from: q,
			schema: schema, types: make([]*sql.ColumnType, 3), order: []int{0, 1, 2}, last: tt.last, lookbackFrom: tt.lookback,
		}
		got, args := s.query()
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
		if diff := cmp.Diff(tt.wantArgs, args); diff != "" {
			t.Errorf("%s: args (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestPositionRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)
	pos, err := encodePosition(true, false, []any{at, "12.50", int64(-3)})
	if err != nil {
		t.Fatal(err)
	}
	if string(pos) != `{"cursor":"2024-01-02T03:04:05.123456789Z","key":["12.50",-3]}` {
		t.Errorf("position = %s", pos)
	}
	got, stored, err := decodePosition(pos, true, []etl.Type{etl.TypeTimestamp, etl.TypeString, etl.TypeInt})
	if err != nil || stored {
		t.Fatal(err, stored)
	}
	if diff := cmp.Diff([]any{at, "12.50", int64(-3)}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, _, err := decodePosition(pos, true, []etl.Type{etl.TypeTimestamp, etl.TypeInt}); err == nil {
		t.Error("a position of another key shape was accepted")
	}
	// Stored values stay as the database holds them: an epoch integer in
	// a timestamp column, sub-microsecond text, a real.
	stored1 := []any{int64(1700000000), "2024-01-02 03:04:05.1234567", 2.5}
	pos, err = encodePosition(true, true, stored1)
	if err != nil {
		t.Fatal(err)
	}
	got, stored, err = decodePosition(pos, true, []etl.Type{etl.TypeTimestamp, etl.TypeTimestamp, etl.TypeFloat})
	if err != nil || !stored {
		t.Fatal(err, stored)
	}
	if diff := cmp.Diff(stored1, got); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
}

func TestSourceConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg SourceConfig
		key string // the FieldError's path, "" for none
	}{
		{SourceConfig{Table: "t", Key: Names{"id"}}, ""},
		{SourceConfig{Query: "SELECT 1 AS id", Key: Names{"id"}, Cursor: "c", Lookback: time.Minute}, ""},
		{SourceConfig{Key: Names{"id"}}, "table"},
		{SourceConfig{Table: "t", Query: "SELECT 1", Key: Names{"id"}}, "query"},
		{SourceConfig{Query: "SELECT 1;", Key: Names{"id"}}, "query"},
		{SourceConfig{Table: "t"}, "key"},
		{SourceConfig{Table: "t", Key: Names{"id", "id"}}, "key"},
		{SourceConfig{Table: "t", Key: Names{"id"}, Cursor: "id"}, "key"},
		{SourceConfig{Table: "t", Key: Names{"id"}, Lookback: time.Minute}, "lookback"},
		{SourceConfig{Table: "t", Key: Names{"id"}, ChunkSize: -1}, "chunk_size"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate(pgLike{})
		var fe *etl.FieldError
		switch {
		case tt.key == "" && err != nil:
			t.Errorf("%+v: %v", tt.cfg, err)
		case tt.key != "" && (!errors.As(err, &fe) || fe.Path[0] != tt.key):
			t.Errorf("%+v: err = %v, want a FieldError on %s", tt.cfg, err, tt.key)
		}
	}
}

func TestAppendValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  etl.Type
		in   any
		want any
	}{
		{etl.TypeString, []byte("Köln"), "Köln"},
		{etl.TypeInt, []byte("42"), int64(42)},
		{etl.TypeInt, int32(-1), int64(-1)},
		{etl.TypeFloat, "0.5", 0.5},
		{etl.TypeBool, int64(1), true},
		{etl.TypeTimestamp, "2024-01-02 03:04:05", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{etl.TypeJSON, []byte(`{"a":[1,"ü"]}`), `{"a":[1,"ü"]}`},
		{etl.TypeString, nil, nil},
	}
	for _, tt := range tests {
		col := etl.NewColumn(tt.typ, 1)
		if err := AppendValue(&col, tt.in); err != nil {
			t.Errorf("%v %v: %v", tt.typ, tt.in, err)
			continue
		}
		got := col.Value(0)
		if tt.typ == etl.TypeJSON {
			got = etl.FormatValue(got)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%v %v (-want +got):\n%s", tt.typ, tt.in, diff)
		}
	}
	col := etl.NewColumn(etl.TypeInt, 1)
	if err := AppendValue(&col, "4x"); err == nil {
		t.Error("4x accepted as an int")
	}
	// A SQLite BOOLEAN holding 2 is not true: it would not read back.
	col = etl.NewColumn(etl.TypeBool, 1)
	if err := AppendValue(&col, int64(2)); err == nil || !strings.Contains(err.Error(), "2 is not a boolean") {
		t.Errorf("2 as a bool: err = %v", err)
	}
}
