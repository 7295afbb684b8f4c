package sqlconntest

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	_ "github.com/mattn/go-sqlite3" // reads the reference Chinook file

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// ChinookDir is ../shared/testdata/chinook beside the module.
func ChinookDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..", "shared", "testdata", "chinook")
}

// ChinookScript returns a Chinook dump (Chinook_PostgreSql.sql,
// Chinook_MySql.sql) from the line after the one starting with marker
// (its "\c chinook;" or "USE `Chinook`;"), so that it loads into the
// database or schema the caller chose rather than dropping and creating
// its own.
func ChinookScript(name, marker string) (string, error) {
	data, err := os.ReadFile(filepath.Join(ChinookDir(), name))
	if err != nil {
		return "", err
	}
	text := string(data)
	i := strings.Index(text, "\n"+marker)
	if i < 0 {
		return "", errors.New(name + ": no line " + marker)
	}
	j := strings.IndexByte(text[i+1:], '\n')
	return text[i+1+j+1:], nil
}

// chinookCustomers reads the reference customers from the Chinook SQLite
// file, as text rows ordered by id ("NULL" for null).
func chinookCustomers(t *testing.T) [][]string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(ChinookDir(), "Chinook_Sqlite.sqlite")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT CustomerId, FirstName, LastName, Company, Address, City, State, Country, PostalCode, Phone, Fax, Email, SupportRepId FROM Customer ORDER BY CustomerId`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]any, 13)
		ptrs := make([]any, 13)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, 13)
		for i, v := range vals {
			row[i] = "NULL"
			if v != nil {
				row[i] = etl.FormatValue(v)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// textRows reads every batch of src (opened from the start) as text rows,
// "NULL" for null, and the batches themselves.
func textRows(t *testing.T, src etl.Source) ([][]string, []*etl.Batch) {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, etl.SourceEnv{Job: "chinook", BatchSize: 25}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer src.Close(context.Background())
	var out [][]string
	var batches []*etl.Batch
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		batches = append(batches, b)
		for i := range b.Len() {
			row := make([]string, len(b.Cols))
			for c := range b.Cols {
				text, ok := b.Cols[c].Text(i)
				if !ok {
					text = "NULL"
				}
				row[c] = text
			}
			out = append(out, row)
		}
	}
	return out, batches
}

// TestChinookCustomers extracts the Chinook customers from table (loaded
// by the caller from the dialect's dump), keyed by key, checks them
// against the reference SQLite file, loads them into a table through the
// dialect's target, and reads that back: the same rows, accented names and
// NULLs intact, every step of the way. loaded, if set, adjusts the
// reference rows to what the dump stores in this database.
func TestChinookCustomers(t *testing.T, h *Harness, table, key string, loaded func(row []string)) {
	want := chinookCustomers(t)
	if loaded != nil {
		for _, row := range want {
			loaded(row)
		}
	}
	if len(want) != 59 {
		t.Fatalf("reference has %d customers, want 59", len(want))
	}
	got, batches := textRows(t, h.Source(t, sqlconn.SourceConfig{Table: table, Key: sqlconn.Names{key}}))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("extracted customers (-sqlite +this database):\n%s", diff)
	}
	// Spot checks that the comparison covers what matters.
	if got[0][1] != "Luís" || got[0][2] != "Gonçalves" || got[0][4] != "Av. Brigadeiro Faria Lima, 2170" {
		t.Errorf("customer 1 = %v", got[0])
	}
	if got[1][3] != "NULL" { // Leonie Köhler has no company
		t.Errorf("customer 2 company = %q, want NULL", got[1][3])
	}

	ctx := context.Background()
	tg := h.Target(t, sqlconn.TargetConfig{Table: "customer_copy", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve})
	if err := tg.Open(ctx, etl.TargetEnv{Job: "chinook", Name: "copy", RunID: 1}); err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	for i, b := range batches {
		b.Seq = int64(i + 1)
		if err := tg.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tg.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	copied, _ := textRows(t, h.Source(t, sqlconn.SourceConfig{Table: "customer_copy", Key: sqlconn.Names{key}}))
	if diff := cmp.Diff(want, copied); diff != "" {
		t.Errorf("customers landed (-want +got):\n%s", diff)
	}
}
