package daemon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/jobs"
	"github.com/nightjar-etl/nightjar/jobs/jobstest"
)

// TestReadyzIs503WhileStopping: once stop is asked, /readyz answers 503
// (saying the daemon is stopping) while the run in flight finishes, so a
// load balancer stops sending work before the process exits.
func TestReadyzIs503WhileStopping(t *testing.T) {
	name := probeName("slow")
	cfg, path := writeConfig(t, t.TempDir(), fmt.Sprintf(`jobs:
  slow:
    schedule: "@every 1m"
    source: { type: probesrc, probe: %[1]s, rows: 3, batches: 3, delay: 300ms }
    targets: [ { type: probe, probe: %[1]s } ]
`, name))
	clock := jobstest.NewClock(time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC))
	r := startDaemon(t, cfg, path, clock, "ready", nil)
	srv := httptest.NewServer(r.d.Handler())
	defer srv.Close()
	clock.WaitTimers(1, wait)
	if code, body := get(t, srv.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz while running: %d %q", code, body)
	}
	clock.AdvanceToNext()
	r.await(t, func(e jobs.Event) bool { return e.Kind == jobs.EventStarted })
	close(r.stop)
	code, body := get(t, srv.URL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "stopping, 1 run(s) finishing") {
		t.Errorf("/readyz while stopping with a run in flight: %d %q, want 503 stopping", code, body)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("daemon did not stop")
	}
	if code, _ := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after stop: %d, want 503", code)
	}
}

// TestDocumentedMetricsAreThere: every metric the README lists is on
// /metrics before anything happened, nightjar_runs_skipped_total at zero
// for each job and reason, nightjar_files_waiting for a scheduled (not
// watched) files job.
func TestDocumentedMetricsAreThere(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a.csv", "b.csv"} {
		if err := os.WriteFile(filepath.Join(dir, "in", name), fmt.Appendf(nil, "id\n%d\n", i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, path := writeConfig(t, dir, `jobs:
  leads:
    schedule: "@every 1h"
    source: { type: files, path: in/*.csv }
    targets: [ { type: file, path: out/leads.csv } ]
`)
	clock := jobstest.NewClock(time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC))
	r := startDaemon(t, cfg, path, clock, "metrics-doc", nil)
	clock.WaitTimers(1, wait)
	srv := httptest.NewServer(r.d.Handler())
	defer srv.Close()
	_, body := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`nightjar_runs_total{job="leads",status="succeeded"} 0`,
		`nightjar_runs_skipped_total{job="leads",reason="overlap"} 0`,
		`nightjar_runs_skipped_total{job="leads",reason="lease"} 0`,
		`nightjar_rows_read_total{job="leads"} 0`,
		`nightjar_rows_written_total{job="leads"} 0`,
		`nightjar_rows_rejected_total{job="leads"} 0`,
		`nightjar_job_running{job="leads"} 0`,
		`nightjar_files_waiting{job="leads"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
