package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
)

// TestWorkerHTTPAndDrain: a worker started with --http answers /healthz
// and /readyz, and its /metrics count what happened: with two runs done
// and the third held in flight by its source, nightjar_runs_total and
// nightjar_river_jobs_total agree with the runs and River jobs in
// PostgreSQL. SIGTERM then drains: /readyz says 503 at once, the run in
// flight finishes (succeeded) and the worker exits 0.
func TestWorkerHTTPAndDrain(t *testing.T) {
	t.Parallel()
	dsn, schema := workerSchema(t, "nightjar_whttp_")
	bin := nightjarBinary(t)

	var (
		mu       sync.Mutex
		requests int
		held     = make(chan struct{}) // closed when the third request arrives
		release  = make(chan struct{})
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		n := requests
		mu.Unlock()
		if n == 3 {
			close(held)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, `{"data":[{"id":%d}]}`, n)
	}))
	defer api.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, `state: {type: postgres, dsn: "${NIGHTJAR_TEST_STATE_DSN}", schema: `+schema+`}
connections:
  wh: { type: sqlite, path: out/wh.db }
jobs:
  held:
    schedule: "@every 2s"
    source: { type: http, url: "`+api.URL+`/items", records: data }
    targets:
      - { type: table, connection: wh, table: t, mode: append }
`)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w := startProc(t, bin, []string{"worker", "-c", cfg, "--grace", "60s", "--http", addr}, "NIGHTJAR_TEST_STATE_DSN="+dsn)

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(what string, within time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after %s; worker output:\n%s", what, within, w.out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("/readyz 200", 60*time.Second, func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	if code, body := get("/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	select {
	case <-held:
	case <-time.After(90 * time.Second):
		t.Fatalf("the third run never started; worker output:\n%s", w.out)
	}

	st, err := pgstore.Open(t.Context(), dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	counts := func() (succeeded, completed int) {
		succeeded, _ = succeededRuns(t, st, "held")
		if err := st.DB().GetContext(ctx, &completed, `SELECT count(*) FROM "river_job" WHERE "kind" = 'nightjar_tick' AND "state" = 'completed'`); err != nil {
			t.Fatal(err)
		}
		return succeeded, completed
	}
	metric := func(name string, labels map[string]string) float64 {
		_, body := get("/metrics")
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("/metrics: %v", err)
		}
		f, ok := families[name]
		if !ok {
			t.Fatalf("/metrics has no %s", name)
		}
		total := 0.0
	metrics:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			total += m.GetCounter().GetValue()
		}
		return total
	}
	succeeded, completed := counts()
	if succeeded != 2 || completed != 2 {
		_, runs := succeededRuns(t, st, "held")
		t.Fatalf("with the third run held: %d runs succeeded, %d ticks completed, want 2 and 2\nruns: %+v\nworker output:\n%s", succeeded, completed, runs, w.out)
	}
	// River reports a completed job once it has recorded it: wait for the
	// counters to reach what the store holds, then they must equal it.
	waitFor("metrics to count the two runs and ticks", 30*time.Second, func() bool {
		return metric("nightjar_runs_total", map[string]string{"job": "held", "status": "succeeded"}) >= 2 &&
			metric("nightjar_river_jobs_total", map[string]string{"outcome": "completed"}) >= 2
	})
	if got := metric("nightjar_runs_total", map[string]string{"job": "held", "status": "succeeded"}); got != 2 {
		t.Errorf("nightjar_runs_total{job=held,status=succeeded} = %v, want 2 (the store's)", got)
	}
	if got := metric("nightjar_river_jobs_total", map[string]string{"outcome": "completed"}); got != 2 {
		t.Errorf("nightjar_river_jobs_total{outcome=completed} = %v, want 2 (River's completed ticks)", got)
	}
	for _, outcome := range []string{"retried", "failed", "cancelled"} {
		if got := metric("nightjar_river_jobs_total", map[string]string{"outcome": outcome}); got != 0 {
			t.Errorf("nightjar_river_jobs_total{outcome=%s} = %v, want 0", outcome, got)
		}
	}

	// SIGTERM drains: not ready at once, the held run finishes, exit 0.
	w.cmd.Process.Signal(syscall.SIGTERM)
	waitFor("/readyz 503 after SIGTERM", 30*time.Second, func() bool { code, _ := get("/readyz"); return code == http.StatusServiceUnavailable })
	close(release)
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("worker after SIGTERM: %v\n%s", err, w.out)
	}
	succeeded, _ = counts()
	if succeeded != 3 {
		t.Errorf("after the drain: %d runs succeeded, want 3 (the run in flight at SIGTERM finished)\n%s", succeeded, w.out)
	}
	runs, _ := st.Runs(context.Background(), "held", 0)
	for _, r := range runs {
		if r.Status != etl.RunSucceeded {
			t.Errorf("run %d: %s %s", r.ID, r.Status, r.Error)
		}
	}
}
