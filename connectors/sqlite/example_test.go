package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nightjar-etl/nightjar/connectors/sqlite"
	"github.com/nightjar-etl/nightjar/etl"
)

// A merge target upserts by key: the second batch updates ada's row.
func Example() {
	dir, _ := os.MkdirTemp("", "nightjar-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	conn := &etl.Connection{Name: "warehouse", Type: "sqlite", Config: &sqlite.ConnConfig{Path: "out/warehouse.db"}}
	cfg := &sqlite.TargetConfig{Table: "leads", Mode: sqlite.ModeMerge, Key: []string{"email"}, Schema: sqlite.SchemaEvolve}
	target, err := sqlite.New(cfg, etl.BuildEnv{BaseDir: dir, Connection: conn})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := target.Open(ctx, etl.TargetEnv{Job: "leads", Name: "targets[0] table leads"}); err != nil {
		fmt.Println(err)
		return
	}
	defer target.Close()

	schema := etl.MustSchema(etl.Field{Name: "email", Type: etl.TypeString}, etl.Field{Name: "score", Type: etl.TypeInt})
	for seq, score := range []int64{10, 90} {
		b := etl.NewBatch(schema, 1)
		b.Cols[0].AppendString("ada@example.com")
		b.Cols[1].AppendInt(score)
		b.Origins = append(b.Origins, etl.Origin{File: "leads.csv", Line: 2})
		b.Seq = int64(seq + 1)
		if err := target.Write(ctx, b); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Batches join one transaction until it is due (commit_rows); the
	// runner syncs it before it checkpoints them, Commit at the end.
	if err := target.Commit(ctx); err != nil {
		fmt.Println(err)
		return
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, "out", "warehouse.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	rows, _ := db.Query(`SELECT email, score FROM leads`)
	defer rows.Close()
	for rows.Next() {
		var email string
		var score int64
		rows.Scan(&email, &score)
		fmt.Println(email, score)
	}
	// Output: ada@example.com 90
}
