package mysql

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// A user's table whose key collation merges distinct source keys: the
// run fails naming them, and nothing of the batch is written.
func TestMergeKeyCollisionsFail(t *testing.T) {
	t.Parallel()
	h := harness(t)
	if _, err := h.DB.Exec("CREATE TABLE ci_keys (k VARCHAR(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.DB.Exec("INSERT INTO ci_keys VALUES ('a', 'old')"); err != nil {
		t.Fatal(err)
	}
	cfg := sqlconn.TargetConfig{Table: "ci_keys", Mode: sqlconn.ModeMerge, Key: []string{"k"}, Schema: sqlconn.SchemaEvolve}
	fields := []string{"k", "v"}
	for _, tc := range []struct {
		name  string
		batch *etl.Batch
		want  []string // in the error
	}{
		{"with the table", sqlconntest.StringBatch(1, fields, []string{"A", "1"}), []string{`"A" and "a" (the last in the table)`}},
		{"within the batch", sqlconntest.StringBatch(2, fields, []string{"b", "1"}, []string{"B ", "2"}), []string{`"B " and "b" (in the batch)`}},
		{"accents", sqlconntest.StringBatch(3, fields, []string{"é", "1"}, []string{"e", "2"}), []string{`"e" and "é"`}},
		{"a whole group", sqlconntest.StringBatch(5, fields, []string{"ç", "1"}, []string{"c ", "2"}, []string{"C", "3"}, []string{"c", "4"}), []string{`"C", "c", "c " and "ç" (in the batch)`}},
	} {
		tg := h.Target(t, cfg)
		ctx := context.Background()
		if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t"}); err != nil {
			t.Fatal(err)
		}
		err := tg.Write(ctx, tc.batch)
		tg.Close()
		var coll *KeyCollisionError
		if !errors.As(err, &coll) || !etl.IsPermanent(err) {
			t.Fatalf("%s: err = %v, want a permanent *KeyCollisionError", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) || !strings.Contains(err.Error(), "utf8mb4_general_ci") {
				t.Errorf("%s: err = %v, want it to name %s and the collation", tc.name, err, w)
			}
		}
	}
	// Keys the collation keeps apart merge as usual.
	tg := h.Target(t, cfg)
	ctx := context.Background()
	if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t"}); err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if err := tg.Write(ctx, sqlconntest.StringBatch(4, fields, []string{"a", "new"}, []string{"c", "2"})); err != nil {
		t.Fatal(err)
	}
	if err := tg.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "new"}, {"c", "2"}}
	if diff := cmp.Diff(want, sqlconntest.Query(t, h.DB, "SELECT k, v FROM ci_keys ORDER BY k")); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// A source key whose collation holds distinct values equal ("a" and "A"
// under utf8mb4_general_ci), not unique under it: paging after "a" would
// skip "A"; the read fails instead.
func TestSourceKeyEqualUnderCollationFails(t *testing.T) {
	t.Parallel()
	h := harness(t)
	if _, err := h.DB.Exec("CREATE TABLE ci_src (k VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, v INT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.DB.Exec("INSERT INTO ci_src VALUES ('a', 1), ('A', 2), ('b', 3)"); err != nil {
		t.Fatal(err)
	}
	err := sqlconntest.ReadErr(t, h.Source(t, sqlconn.SourceConfig{Table: "ci_src", Key: sqlconn.Names{"k"}, ChunkSize: 1}))
	if !errors.Is(err, sqlconn.ErrKeyNotUnique) || !strings.Contains(err.Error(), "2 rows compare equal") {
		t.Errorf("err = %v, want ErrKeyNotUnique: 2 rows compare equal", err)
	}
}
