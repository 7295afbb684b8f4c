package sqlite

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// NaN (which SQLite stores as null) and -0 (which a REAL stores as 0)
// are refused naming their row, field and the column type.
func TestUnrepresentableFloatsRefused(t *testing.T) {
	t.Parallel()
	h := harness(t)
	s := etl.MustSchema(etl.Field{Name: "k", Type: etl.TypeInt}, etl.Field{Name: "ratio", Type: etl.TypeFloat})
	for _, tc := range []struct {
		value float64
		want  string
	}{{math.NaN(), `leads.csv:3: field "ratio": NaN`}, {math.Copysign(0, -1), `leads.csv:3: field "ratio": -0`}} {
		b := etl.NewBatch(s, 2)
		b.Cols[0].AppendInt(1)
		b.Cols[1].AppendFloat(1.5)
		b.Cols[0].AppendInt(2)
		b.Cols[1].AppendFloat(tc.value)
		b.Origins = []etl.Origin{{File: "leads.csv", Line: 2}, {File: "leads.csv", Line: 3}}
		b.Seq, b.Position = 1, etl.Position(`{}`)
		tg := h.Target(t, sqlconn.TargetConfig{Table: "floats", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve})
		ctx := context.Background()
		if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t"}); err != nil {
			t.Fatal(err)
		}
		err := tg.Write(ctx, b)
		tg.Close()
		var un *sqlconn.UnrepresentableError
		if !errors.As(err, &un) || !etl.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "SQLite REAL") {
			t.Errorf("%v: err = %v, want %s refused", tc.value, err, tc.want)
		}
	}
}

// A BOOLEAN column holding 2 is not read as true: the read fails naming
// the column.
func TestBooleanTwoRefused(t *testing.T) {
	t.Parallel()
	h := harness(t)
	if _, err := h.DB.Exec("CREATE TABLE flags (id INTEGER PRIMARY KEY, on_off BOOLEAN); INSERT INTO flags VALUES (1, 1), (2, 2)"); err != nil {
		t.Fatal(err)
	}
	src := h.Source(t, sqlconn.SourceConfig{Table: "flags", Key: sqlconn.Names{"id"}})
	err := src.Open(context.Background(), etl.SourceEnv{Job: "j", BatchSize: 10})
	src.Close()
	if err == nil || !etl.IsPermanent(err) || !strings.Contains(err.Error(), `column "on_off": 1 values are not booleans (0 or 1), such as 2`) {
		t.Errorf("err = %v, want 2 refused naming the column", err)
	}
}

// Binary data, which has no field type yet, fails the read naming its
// column, rather than failing a target naming none.
func TestBinaryRefusedNamingColumn(t *testing.T) {
	t.Parallel()
	h := harness(t)
	if _, err := h.DB.Exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, payload BLOB); INSERT INTO blobs VALUES (1, x'00ff10')"); err != nil {
		t.Fatal(err)
	}
	src := h.Source(t, sqlconn.SourceConfig{Table: "blobs", Key: sqlconn.Names{"id"}})
	ctx := context.Background()
	if err := src.Open(ctx, etl.SourceEnv{Job: "j", BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Next(ctx); err == nil || !strings.Contains(err.Error(), `column "payload": not valid UTF-8`) {
		t.Errorf("err = %v, want the binary column named", err)
	}
}

// A NOCASE key holding "a" and "A": paging after "a" would skip "A"; the
// read fails instead.
func TestSourceKeyEqualUnderNocaseFails(t *testing.T) {
	t.Parallel()
	h := harness(t)
	if _, err := h.DB.Exec("CREATE TABLE nc (k TEXT COLLATE NOCASE, v INTEGER); INSERT INTO nc VALUES ('a', 1), ('A', 2), ('b', 3)"); err != nil {
		t.Fatal(err)
	}
	err := sqlconntest.ReadErr(t, h.Source(t, sqlconn.SourceConfig{Table: "nc", Key: sqlconn.Names{"k"}, ChunkSize: 1}))
	if !errors.Is(err, sqlconn.ErrKeyNotUnique) || !strings.Contains(err.Error(), "2 rows compare equal") {
		t.Errorf("err = %v, want ErrKeyNotUnique: 2 rows compare equal", err)
	}
}
