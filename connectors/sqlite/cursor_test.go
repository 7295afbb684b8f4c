package sqlite

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// readIDs reads src from pos to its end: the ids read and the last
// position.
func readIDs(t *testing.T, src etl.Source, pos etl.Position) ([]int64, etl.Position) {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, etl.SourceEnv{Job: "j", Position: pos, BatchSize: 1000}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer src.Close(context.Background())
	var ids []int64
	for n := 0; ; n++ {
		if n == 100 {
			t.Fatalf("read 100 chunks of a 10-row table: in circles (%d ids)", len(ids))
		}
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			return ids, pos
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		for i := range b.Len() {
			ids = append(ids, b.Col("id").Int[i])
		}
		pos = b.Position
	}
}

// Cursors compare as SQLite stores them: epoch integers in a TIMESTAMP
// column are read past the first chunk, text times with sub-millisecond
// digits are not read again by the next run, and a lookback over either
// rereads its window.
func TestCursorStoredValues(t *testing.T) {
	t.Parallel()
	h := harness(t)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := h.DB.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE TABLE epoch (id INTEGER PRIMARY KEY, updated_at TIMESTAMP)")
	exec("CREATE TABLE micro (id INTEGER PRIMARY KEY, updated_at TIMESTAMP)")
	base := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for id := 1; id <= 10; id++ {
		at := base.Add(time.Duration(id/3) * time.Minute) // ties across chunks
		exec("INSERT INTO epoch VALUES (?, ?)", id, at.Unix())
		// Seven fractional digits: more than go-sqlite3's or a
		// millisecond position keeps.
		exec("INSERT INTO micro VALUES (?, ?)", id, at.Format("2006-01-02 15:04:05")+fmt.Sprintf(".12367%d", id%3))
	}
	for _, table := range []string{"epoch", "micro"} {
		cfg := sqlconn.SourceConfig{Table: table, Cursor: "updated_at", Key: sqlconn.Names{"id"}, ChunkSize: 3}
		ids, pos := readIDs(t, h.Source(t, cfg), nil)
		if diff := cmp.Diff([]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, ids); diff != "" {
			t.Errorf("%s: first run (-want +got):\n%s", table, diff)
		}
		if again, _ := readIDs(t, h.Source(t, cfg), pos); len(again) != 0 {
			t.Errorf("%s: second run read %v again", table, again)
		}
		later := base.Add(time.Hour)
		stored := any(later.Unix())
		if table == "micro" {
			stored = later.Format("2006-01-02 15:04:05") + ".9999999"
		}
		exec("UPDATE "+table+" SET updated_at = ? WHERE id = 4", stored)
		if next, _ := readIDs(t, h.Source(t, cfg), pos); !cmp.Equal(next, []int64{4}) {
			t.Errorf("%s: next run read %v, want [4]", table, next)
		}
		lb := cfg
		lb.Lookback = 70 * time.Minute // from 09:50 (at 11:00 - 70m): every row
		if all, _ := readIDs(t, h.Source(t, lb), pos); len(all) != 10 {
			t.Errorf("%s: lookback read %v, want all 10", table, all)
		}
		exec("UPDATE " + table + " SET updated_at = (SELECT updated_at FROM " + table + " WHERE id = 1) WHERE id = 4")
	}
}

// A position saved before cursors compared stored values (a time, cut to
// the millisecond) resumes after its row, not from the start.
func TestCursorLegacyPosition(t *testing.T) {
	t.Parallel()
	h := harness(t)
	if _, err := h.DB.Exec("CREATE TABLE ev (id INTEGER PRIMARY KEY, updated_at DATETIME)"); err != nil {
		t.Fatal(err)
	}
	for id := 1; id <= 6; id++ {
		if _, err := h.DB.Exec("INSERT INTO ev VALUES (?, ?)", id, fmt.Sprintf("2024-05-01 10:00:0%d", id)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := sqlconn.SourceConfig{Table: "ev", Cursor: "updated_at", Key: sqlconn.Names{"id"}, ChunkSize: 2}
	legacy := etl.Position(`{"cursor":"2024-05-01T10:00:03Z","key":[3]}`)
	ids, pos := readIDs(t, h.Source(t, cfg), legacy)
	if diff := cmp.Diff([]int64{4, 5, 6}, ids); diff != "" {
		t.Errorf("from a legacy position (-want +got):\n%s", diff)
	}
	if again, _ := readIDs(t, h.Source(t, cfg), pos); len(again) != 0 {
		t.Errorf("then read %v again", again)
	}
}
