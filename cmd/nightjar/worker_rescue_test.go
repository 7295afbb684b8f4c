package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl/pgstore"
)

// TestWorkerRescuesAKilledRun: a worker is SIGKILLed while its tick's run
// is in flight (its source never answers); River's rescuer hands the tick
// to another worker once the job's timeout: and the rescue horizon have
// passed, and that attempt's run succeeds: the tick ends completed, with
// one succeeded run. (River ignores running jobs whose timeout is
// negative: without the job's timeout on the tick, it stays running.)
func TestWorkerRescuesAKilledRun(t *testing.T) {
	t.Parallel()
	dsn, schema := workerSchema(t, "nightjar_rescue_")
	bin := nightjarBinary(t)
	var (
		mu       sync.Mutex
		requests int
		held     = make(chan struct{})
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		n := requests
		mu.Unlock()
		if n == 1 {
			close(held)
			<-r.Context().Done() // the first run's worker dies here
			return
		}
		fmt.Fprintf(w, `{"data":[{"id":%d}]}`, n)
	}))
	defer api.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, `state: {type: postgres, dsn: "${NIGHTJAR_TEST_STATE_DSN}", schema: `+schema+`}
connections:
  wh: { type: sqlite, path: out/wh.db }
jobs:
  slow:
    schedule: "@every 1h"
    timeout: 5s
    retries: 3
    source: { type: http, url: "`+api.URL+`/items", records: data }
    targets:
      - { type: table, connection: wh, table: t, mode: append }
`)
	env := "NIGHTJAR_TEST_STATE_DSN=" + dsn
	a := startWorker(t, bin, cfg, env)
	select {
	case <-held:
	case <-time.After(90 * time.Second):
		t.Fatalf("the first run never started; worker output:\n%s", a.out)
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
	b := startWorker(t, bin, cfg, env)

	st, err := pgstore.Open(t.Context(), dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	// Leadership passes to b (A's term runs out), its rescuer runs every
	// 30 s and rescues after 1 minute. The tick A held is the first; an
	// hour boundary passed meanwhile adds the next hour's, run once too.
	completed := func() (first string, attempt, done int) {
		rows, err := st.DB().QueryxContext(ctx, `SELECT "state"::text, "attempt" FROM "river_job" WHERE "kind" = 'nightjar_tick' ORDER BY "id"`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for n := 0; rows.Next(); n++ {
			var state string
			var a int
			if err := rows.Scan(&state, &a); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				first, attempt = state, a
			}
			if state == "completed" {
				done++
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return first, attempt, done
	}
	deadline := time.Now().Add(4 * time.Minute)
	for {
		state, attempt, _ := completed()
		if state == "completed" {
			if attempt < 2 {
				t.Errorf("the tick completed at attempt %d, want a second attempt", attempt)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed worker's tick is still %s (attempt %d) after 4 minutes: never rescued\n%s", state, attempt, b.out)
		}
		time.Sleep(time.Second)
	}
	// Each completed tick has its one succeeded run, recorded in the
	// transaction that completed it.
	_, _, before := completed()
	succeeded, runs := succeededRuns(t, st, "slow")
	if _, _, after := completed(); succeeded < before || succeeded > after {
		t.Errorf("%d runs succeeded, want one per completed tick (%d, then %d): %+v", succeeded, before, after, runs)
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	if err := b.cmd.Wait(); err != nil {
		t.Errorf("worker after SIGTERM: %v\n%s", err, b.out)
	}
}
