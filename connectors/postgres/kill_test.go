package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/nightjar-etl/nightjar/connectors/csvfile" // the csv format
	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// withApp returns dsn with an application_name of prefix and random hex,
// and that name: a test terminates its own connections by it.
func withApp(t *testing.T, dsn, prefix string) (string, string) {
	t.Helper()
	var rnd [4]byte
	rand.Read(rnd[:])
	app := prefix + hex.EncodeToString(rnd[:])
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String(), app
}

// TestTerminatedBackendMidLoad kills the target's connections with
// pg_terminate_backend while a job loads, long enough to exhaust the
// retries: the run fails naming the target and the cause, the recorded
// position covers only committed batches, and a rerun completes with
// exactly one row per source row.
func TestTerminatedBackendMidLoad(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	appDSN, app := withApp(t, dsn, "nj_kill_")
	conn := &etl.Connection{Name: "pg", Type: "postgres", Config: &ConnConfig{DSN: appDSN}}

	const batches, rows = 40, 2000
	var gate chan struct{} // see the killer below
	var src []*etl.Batch
	for b := range batches {
		s := etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "name", Type: etl.TypeString})
		batch := etl.NewBatch(s, rows)
		for r := range rows {
			id := int64(b*rows + r + 1)
			batch.Cols[0].AppendInt(id)
			batch.Cols[1].AppendString(fmt.Sprintf("lead %d", id))
			batch.Origins = append(batch.Origins, etl.Origin{File: "leads.csv", Line: id + 1})
		}
		batch.Position = etl.Position(fmt.Sprintf(`{"batch":%d}`, b+1))
		src = append(src, batch)
	}
	newJob := func() *etl.Job {
		tg, err := New(&TargetConfig{TargetConfig: sqlconn.TargetConfig{Table: "leads", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve, CommitRows: 3 * rows}, SchemaName: schema},
			etl.BuildEnv{Connection: conn})
		if err != nil {
			t.Fatal(err)
		}
		return &etl.Job{
			Name: "leads",
			Source: &etltest.Source{Batches: src, NextHook: func(i int) error {
				time.Sleep(15 * time.Millisecond) // a source slower than the load, like a real one
				if i == 6 && gate != nil {
					<-gate // batch 7 waits until the killing has begun
				}
				return nil
			}},
			Targets:   []etl.NamedTarget{{Name: "targets[0] table leads", Target: tg}},
			BatchSize: rows,
		}
	}
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	count := func(query string) int64 {
		t.Helper()
		var n int64
		if err := db.Get(&n, query); err != nil {
			if strings.Contains(err.Error(), "does not exist") {
				return 0
			}
			t.Fatal(err)
		}
		return n
	}

	// The killer waits for a few batches to land, then terminates every
	// backend of the job's application name until the run ends. The source
	// holds batch 7 back until the first kill, so the load cannot finish
	// before the killing starts (it did on a fast machine).
	var killed atomic.Int64
	done, runEnded := make(chan struct{}), make(chan struct{})
	gate = make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			var n int64
			db.Get(&n, "SELECT count(*) FROM leads")
			if n >= 5*rows {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		opened := false
		for {
			var n int64
			db.Get(&n, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) k", app)
			killed.Add(n)
			if n > 0 && !opened {
				close(gate)
				opened = true
			}
			select {
			case <-runEnded:
				if !opened {
					close(gate)
				}
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	run, runErr := (&etl.Runner{Store: store}).Run(ctx, newJob(), etl.RunOptions{})
	close(runEnded)
	<-done
	gate = nil
	if runErr == nil {
		t.Fatalf("run succeeded (%d connections killed), want a failure", killed.Load())
	}
	if killed.Load() == 0 {
		t.Fatal("no connection was killed")
	}
	msg := runErr.Error()
	if !strings.Contains(msg, `postgres pg table "`+schema+`"."leads"`) || !strings.Contains(msg, "SQLSTATE 57P01") && !strings.Contains(msg, "conn closed") && !strings.Contains(msg, "connect") {
		t.Errorf("error does not name the target and the cause: %v", runErr)
	}
	if run.Status != etl.RunFailed {
		t.Errorf("status = %v", run.Status)
	}
	cp, err := store.Checkpoint(ctx, "leads", "")
	if err != nil {
		t.Fatal(err)
	}
	loaded := count("SELECT count(*) FROM leads")
	if cp.Seq >= batches || int64(cp.Seq)*rows > loaded {
		t.Errorf("checkpoint at batch %d (%s) with %d rows loaded: the position passed rows that are not in the table, or the run was not interrupted", cp.Seq, cp.Position, loaded)
	}
	t.Logf("first run: %v; checkpoint at batch %d, %d rows loaded, %d connections killed", runErr, cp.Seq, loaded, killed.Load())

	if _, err := (&etl.Runner{Store: store}).Run(ctx, newJob(), etl.RunOptions{}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if n, distinct := count("SELECT count(*) FROM leads"), count("SELECT count(DISTINCT id) FROM leads"); n != batches*rows || distinct != n {
		t.Errorf("after the rerun: %d rows, %d distinct ids; want %d of each", n, distinct, batches*rows)
	}
}

// TestTransientFailureReloadsOpenTransaction terminates the target's
// connection while its transaction holds two batches not yet synced: the
// next Write fails on the dead connection, loads the three batches again
// on a new one, and after Sync the table holds each row once.
func TestTransientFailureReloadsOpenTransaction(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	appDSN, app := withApp(t, dsn, "nj_reload_")
	for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge} {
		cfg := sqlconn.TargetConfig{Table: "t_" + mode, Mode: mode, Schema: sqlconn.SchemaEvolve}
		if mode == sqlconn.ModeMerge {
			cfg.Key = []string{"id"}
		}
		tg := testTable(t, appDSN, schema, cfg, false)
		ctx := context.Background()
		if err := tg.Open(ctx, etl.TargetEnv{Job: "reload", Name: "t", RunID: 1, Syncs: true}); err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		batch := func(seq int64) *etl.Batch {
			b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}), 100)
			for r := range int64(100) {
				b.Cols[0].AppendInt(seq*100 + r)
				b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: seq*100 + r})
			}
			b.Seq, b.Position = seq, etl.Position(fmt.Sprintf(`{"offset":%d}`, seq))
			return b
		}
		for seq := range int64(2) {
			if err := tg.Write(ctx, batch(seq)); err != nil {
				t.Fatal(err)
			}
		}
		var killed int
		if err := db.Get(&killed, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) k", app); err != nil || killed == 0 {
			t.Fatalf("%s: terminated %d backends: %v", mode, killed, err)
		}
		if err := tg.Write(ctx, batch(2)); err != nil {
			t.Fatalf("%s: Write after the connection was terminated: %v", mode, err)
		}
		if err := tg.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		var n, distinct int
		if err := db.QueryRow(`SELECT count(*), count(DISTINCT id) FROM "t_`+mode+`"`).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		if n != 300 || distinct != 300 {
			t.Errorf("%s: %d rows, %d distinct; want 300 of each", mode, n, distinct)
		}
	}
}

// TestRewindAfterTerminatedBackends loads a CSV file from the files
// source, or a table from the PostgreSQL source, both of which reopen, so
// the table keeps no batches and the runner answers a lost transaction by
// reading it again from the last checkpoint. Between one and three times,
// once the target's connection is inside a transaction and is a new one,
// it is terminated: the run completes, the table holds each row once, and
// the counters read every row once and account for each as written or
// skipped. Transactions are the default (one for the whole input) or a
// few batches each.
func TestRewindAfterTerminatedBackends(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	for _, c := range []struct {
		source     string
		commitRows int
	}{{"csv", 0}, {"csv", 6000}, {"postgres", 0}, {"postgres", 6000}} {
		source, commitRows := c.source, c.commitRows
		t.Run(fmt.Sprintf("%s,commit_rows=%d", source, commitRows), func(t *testing.T) {
			t.Parallel()
			schema, db := freshSchema(t, dsn)
			appDSN, app := withApp(t, dsn, "nj_rewind_")

			const rows = 60_000
			dir := t.TempDir()
			var sb strings.Builder
			sb.WriteString("id,name\n")
			for i := 1; i <= rows; i++ {
				fmt.Fprintf(&sb, "%d,lead %d\n", i, i)
			}
			if err := os.WriteFile(filepath.Join(dir, "leads.csv"), []byte(sb.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			var (
				src etl.Source
				err error
			)
			if source == "csv" {
				src, err = files.NewSource(files.SourceConfig{Path: "leads.csv", CSV: fileformat.DefaultCSVOptions()}, etl.BuildEnv{BaseDir: dir})
			} else {
				if _, err := db.Exec(`CREATE TABLE src_leads AS SELECT i AS id, 'lead ' || i AS name FROM generate_series(1, $1::int) i`, rows); err != nil {
					t.Fatal(err)
				}
				srcConn := &etl.Connection{Name: "src", Type: "postgres", Config: &ConnConfig{DSN: dsn}}
				src, err = NewSource(&SourceConfig{SourceConfig: sqlconn.SourceConfig{Table: "src_leads", Key: sqlconn.Names{"id"}}, SchemaName: schema},
					etl.BuildEnv{Connection: srcConn})
			}
			if err != nil {
				t.Fatal(err)
			}
			conn := &etl.Connection{Name: "pg", Type: "postgres", Config: &ConnConfig{DSN: appDSN}}
			tg, err := New(&TargetConfig{TargetConfig: sqlconn.TargetConfig{Table: "leads", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve, CommitRows: commitRows}, SchemaName: schema},
				etl.BuildEnv{Connection: conn})
			if err != nil {
				t.Fatal(err)
			}
			job := &etl.Job{Name: "leads", Source: src, BatchSize: 1000,
				Targets: []etl.NamedTarget{{Name: "targets[0] table leads", Target: tg}}}
			ctx := context.Background()
			store, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()

			kills := 1 + mrand.IntN(3)
			var killed []int
			done, runEnded := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(done)
				for len(killed) < kills {
					var pid int
					err := db.Get(&pid, "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state IN ('active', 'idle in transaction') AND xact_start IS NOT NULL LIMIT 1", app)
					if err == nil && !slices.Contains(killed, pid) {
						var ok bool
						if db.Get(&ok, "SELECT pg_terminate_backend($1)", pid) == nil && ok {
							killed = append(killed, pid)
						}
					}
					select {
					case <-runEnded:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}()
			run, runErr := (&etl.Runner{Store: store}).Run(ctx, job, etl.RunOptions{})
			close(runEnded)
			<-done
			if runErr != nil {
				t.Fatalf("run failed after %d of %d kills: %v", len(killed), kills, runErr)
			}
			if len(killed) < kills {
				t.Fatalf("the load ended after %d of %d kills", len(killed), kills)
			}
			var n, distinct int64
			if err := db.QueryRow(`SELECT count(*), count(DISTINCT id) FROM "leads"`).Scan(&n, &distinct); err != nil {
				t.Fatal(err)
			}
			if n != rows || distinct != rows {
				t.Errorf("%d rows, %d distinct ids; want %d of each", n, distinct, rows)
			}
			if run.Read != rows || run.Written+run.Skipped != rows {
				t.Errorf("counters %+v: want %d read, written + skipped the same", run.Counters, rows)
			}
			t.Logf("%d kills; counters %+v", len(killed), run.Counters)
		})
	}
}

// TestRewindReplayInStream: a Table that keeps no batches (the runner
// rewinds) and streams a batch whose commit went through before (its
// replay marker exists) rolls the transaction back and asks for a rewind;
// opened again, it loads the batches read again one by one, claiming each
// marker first, so the replay is skipped and the table holds each row once.
func TestRewindReplayInStream(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	tg := testTable(t, dsn, schema, sqlconn.TargetConfig{Table: "leads", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}, false)
	ctx := context.Background()
	env := etl.TargetEnv{Job: "replay", Name: "t", RunID: 1, Syncs: true, Rewinds: true}
	batch := func(seq int64) *etl.Batch {
		b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}), 10)
		for r := range int64(10) {
			b.Cols[0].AppendInt(seq*10 + r)
			b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: seq*10 + r})
		}
		b.Seq, b.Load, b.Position = seq, "l1", etl.Position(fmt.Sprintf(`{"offset":%d}`, seq))
		return b
	}
	// attempt writes batches 1..n in one transaction on a fresh opening.
	attempt := func(n int64) error {
		t.Helper()
		if err := tg.Open(ctx, env); err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		for seq := int64(1); seq <= n; seq++ {
			if err := tg.Write(ctx, batch(seq)); err != nil {
				return err
			}
		}
		if err := tg.Sync(ctx); err != nil {
			return err
		}
		if skipped := tg.TakeSkipped(); n == 3 && skipped != 10 {
			t.Errorf("skipped %d rows, want batch 1's 10", skipped)
		}
		return nil
	}
	// Batch 1 committed, its checkpoint lost: the run reads it again.
	if err := attempt(1); err != nil {
		t.Fatal(err)
	}
	err := attempt(3)
	if !etl.IsRewind(err) || !strings.Contains(err.Error(), "loaded before") {
		t.Fatalf("streaming a batch loaded before: %v; want a rewind", err)
	}
	if err := attempt(3); err != nil {
		t.Fatalf("read again: %v", err)
	}
	var n, distinct int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT id) FROM "leads"`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != 30 || distinct != 30 {
		t.Errorf("%d rows, %d distinct; want 30 of each", n, distinct)
	}
}
