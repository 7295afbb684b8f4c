package sqlite

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// NaN (which SQLite stores as null), -0 (which a REAL stores as 0) and a
// year past 9999 (RFC 3339 text that does not read back) are refused
// naming their row, field and the column type.
func TestUnrepresentableValuesRefused(t *testing.T) {
	t.Parallel()
	h := harness(t)
	s := etl.MustSchema(etl.Field{Name: "ratio", Type: etl.TypeFloat}, etl.Field{Name: "at", Type: etl.TypeTimestamp})
	ok := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ratio float64
		at    time.Time
		want  string
	}{
		{math.NaN(), ok, `leads.csv:3: field "ratio": NaN cannot be stored in a SQLite REAL`},
		{math.Copysign(0, -1), ok, `leads.csv:3: field "ratio": -0 cannot be stored in a SQLite REAL`},
		{1, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), `leads.csv:3: field "at": 10000-01-01T00:00:00Z cannot be stored in a SQLite TEXT time`},
	} {
		b := etl.NewBatch(s, 2)
		b.Cols[0].AppendFloat(1.5)
		b.Cols[1].AppendTime(ok)
		b.Cols[0].AppendFloat(tc.ratio)
		b.Cols[1].AppendTime(tc.at)
		b.Origins = []etl.Origin{{File: "leads.csv", Line: 2}, {File: "leads.csv", Line: 3}}
		b.Seq, b.Position = 1, etl.Position(`{}`)
		tg := h.Target(t, sqlconn.TargetConfig{Table: "values", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve})
		ctx := context.Background()
		if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t"}); err != nil {
			t.Fatal(err)
		}
		err := tg.Write(ctx, b)
		tg.Close()
		var un *sqlconn.UnrepresentableError
		if !errors.As(err, &un) || !etl.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %s", err, tc.want)
		}
	}
}

// TestOnUnrepresentable: with on_unrepresentable: reject the row holding
// a value the column cannot hold is quarantined with the reason and the
// others load; with null the value is stored as NULL; the batch is the
// caller's and stays as it was (another target may read it).
func TestOnUnrepresentable(t *testing.T) {
	t.Parallel()
	h := harness(t)
	s := etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "ratio", Type: etl.TypeFloat})
	for _, mode := range []string{sqlconn.UnrepresentableNull, sqlconn.UnrepresentableReject} {
		b := etl.NewBatch(s, 4)
		for i, f := range []float64{1.5, math.NaN(), 2.5, math.Copysign(0, -1)} {
			b.Cols[0].AppendInt(int64(i + 1))
			b.Cols[1].AppendFloat(f)
			b.Origins = append(b.Origins, etl.Origin{File: "leads.csv", Line: int64(i + 2)})
		}
		b.Seq, b.Position = 1, etl.Position(`{}`)
		table := "unrep_" + mode
		tg := h.Target(t, sqlconn.TargetConfig{Table: table, Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve, OnUnrepresentable: mode})
		ctx := context.Background()
		if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t"}); err != nil {
			t.Fatal(err)
		}
		if err := tg.Write(ctx, b); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if err := tg.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		rejects := tg.(etl.Rejecter).TakeRejects()
		tg.Close()
		var rows []string
		r, err := h.DB.Query(`SELECT id, quote(ratio) FROM "` + table + `" ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var id, ratio string
			r.Scan(&id, &ratio)
			rows = append(rows, id+":"+ratio)
		}
		r.Close()
		want, wantRejects := "1:1.5 3:2.5", 2
		if mode == sqlconn.UnrepresentableNull {
			want, wantRejects = "1:1.5 2:NULL 3:2.5 4:NULL", 0
		}
		if got := strings.Join(rows, " "); got != want || len(rejects) != wantRejects {
			t.Errorf("%s: rows %q, %d rejects %+v; want %q and %d", mode, got, len(rejects), rejects, want, wantRejects)
		}
		if mode == sqlconn.UnrepresentableReject && (rejects[0].Origin.String() != "leads.csv:3" || !strings.Contains(rejects[0].Reason, "NaN cannot be stored in a SQLite REAL")) {
			t.Errorf("reject %+v", rejects[0])
		}
		if !math.IsNaN(b.Cols[1].Float[1]) || b.Cols[1].Null[1] {
			t.Errorf("%s: the caller's batch was changed", mode)
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

// A BLOB column reads as bytes, exactly (issue 21 found "invalid byte
// sequence" errors naming no column); bytes that are not UTF-8 in a TEXT
// column still fail the read naming it.
func TestBlobReadAsBytes(t *testing.T) {
	t.Parallel()
	h := harness(t)
	if _, err := h.DB.Exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, payload BLOB, note TEXT); INSERT INTO blobs VALUES (1, x'00ff10', 'ok')"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := h.Source(t, sqlconn.SourceConfig{Table: "blobs", Key: sqlconn.Names{"id"}})
	if err := first.Open(ctx, etl.SourceEnv{Job: "j", BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	b, err := first.Next(ctx)
	first.Close()
	if err != nil {
		t.Fatal(err)
	}
	if f := b.Schema.Field(1); f.Type != etl.TypeBytes {
		t.Fatalf("payload read as %s, want bytes", f.Type)
	}
	if got := b.Cols[1].Str[0]; got != "\x00\xff\x10" {
		t.Errorf("payload = %x, want 00ff10", got)
	}
	if _, err := h.DB.Exec("UPDATE blobs SET note = CAST(x'00ff10' AS TEXT)"); err != nil {
		t.Fatal(err)
	}
	src := h.Source(t, sqlconn.SourceConfig{Table: "blobs", Key: sqlconn.Names{"id"}})
	if err := src.Open(ctx, etl.SourceEnv{Job: "j", BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Next(ctx); err == nil || !strings.Contains(err.Error(), `column "note": not valid UTF-8`) {
		t.Errorf("err = %v, want the text column named", err)
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
