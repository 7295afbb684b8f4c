package daemon

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/jobs/schedule"
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
	clock := etltest.NewClock(time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC))
	r := startDaemon(t, cfg, path, clock, "ready", nil)
	srv := httptest.NewServer(r.d.Handler())
	defer srv.Close()
	clock.WaitTimers(1, wait)
	if code, body := get(t, srv.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz while running: %d %q", code, body)
	}
	clock.AdvanceToNext()
	r.await(t, func(e schedule.Event) bool { return e.Kind == schedule.EventStarted })
	close(r.stop)
	code, body := get(t, srv.URL+"/readyz")
	// The run may have ended already on a loaded machine: the count is
	// not checked, the 503 is.
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: stopping") {
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
	clock := etltest.NewClock(time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC))
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

// TestRunPageInChromium: a run's page shows its counters, error and the
// rows it quarantined with reasons and origins, paged; the status page
// links to it and its chart draws rows and durations.
func TestRunPageInChromium(t *testing.T) {
	bin := chromium(t)
	name := probeName("rejects")
	cfg, path := writeConfig(t, t.TempDir(), fmt.Sprintf(`jobs:
  leads:
    schedule: "@every 1m"
    source: { type: probesrc, probe: %[1]s, rows: 5, rejects: 30, batches: 2 }
    on_reject: { max_ratio: 0 }
    targets: [ { type: probe, probe: %[1]s } ]
`, name))
	clock := etltest.NewClock(time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC))
	r := startDaemon(t, cfg, path, clock, "runpage", nil)
	clock.WaitTimers(1, wait)
	clock.AdvanceToNext()
	run := r.finished(t).Run
	srv := httptest.NewServer(r.d.Handler())
	defer srv.Close()

	status := string(headless(t, bin, srv.URL+"/", "--dump-dom"))
	for _, want := range []string{fmt.Sprintf(`href="runs/%d"`, run.ID), `<polyline class="duration"`, "bars: rows written · line: duration"} {
		if !strings.Contains(status, want) {
			t.Errorf("status page lacks %s", want)
		}
	}

	shot := filepath.Join(t.TempDir(), "run.png")
	url := fmt.Sprintf("%s/runs/%d", srv.URL, run.ID)
	dom := string(headless(t, bin, url, "--dump-dom", "--screenshot="+shot, "--window-size=1400,900", "--hide-scrollbars"))
	for _, want := range []string{
		"<dt>Read</dt><dd>70</dd>", "<dt>Written</dt><dd>10</dd>", "<dt>Rejected</dt><dd>60</dd>",
		"rows 1–50 of 60", `rel="next"`, "<td>probe:6</td><td>probesrc</td><td>n</td><td>x</td><td>not a number</td>",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	if n := strings.Count(dom, `<tr class="reject">`); n != quarantinePage {
		t.Errorf("run page shows %d quarantined rows, want %d", n, quarantinePage)
	}
	page2 := string(headless(t, bin, url+"?page=2", "--dump-dom"))
	if n := strings.Count(page2, `<tr class="reject">`); n != 10 || !strings.Contains(page2, "rows 51–60 of 60") || !strings.Contains(page2, `rel="prev"`) {
		t.Errorf("page 2 shows %d rows, want 10 (51–60) and a link back", n)
	}
	if code, _ := get(t, srv.URL+"/runs/999"); code != http.StatusNotFound {
		t.Errorf("/runs/999: %d, want 404", code)
	}
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 5000 {
		t.Errorf("screenshot of the run page: %v (%d bytes)", err, len(png))
	}
	if dir := os.Getenv("NIGHTJAR_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "run.png"), png, 0o644)
	}
}

// TestRowsChartDurations: the duration line rises with the run's duration,
// the longest at the top; a run without an end sits at the bottom.
func TestRowsChartDurations(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	runs := []etl.Run{ // newest first
		{ID: 3, Status: etl.RunRunning, StartedAt: t0},
		{ID: 2, Status: etl.RunSucceeded, StartedAt: t0, EndedAt: t0.Add(2 * time.Second)},
		{ID: 1, Status: etl.RunSucceeded, StartedAt: t0, EndedAt: t0.Add(time.Second)},
	}
	c := rowsChart(runs)
	if c.DurationLine != "3,24 11,1 19,47" || c.MaxDuration != "2s" {
		t.Errorf("duration line %q, longest %s; want 3,24 11,1 19,47 and 2s", c.DurationLine, c.MaxDuration)
	}
}
