package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// withRuns starts a daemon on a fake clock with a job that loads 2 batches
// of 7 rows and one that fails, and lets each run three times.
func withRuns(t *testing.T) (*running, *etltest.Clock) {
	t.Helper()
	good, bad := probeName("good"), probeName("bad")
	probes.get(bad).fail.Store(true)
	cfg, path := writeConfig(t, t.TempDir(), fmt.Sprintf(`jobs:
  leads:
    description: Leads from the web form
    schedule: "@every 1m"
    source: { type: probesrc, probe: %[1]s, rows: 7, batches: 2 }
    targets: [ { type: probe, probe: %[1]s } ]
  broken:
    schedule: "@every 1m"
    source: { type: probesrc, probe: %[2]s }
    targets: [ { type: probe, probe: %[2]s } ]
`, good, bad))
	clock := etltest.NewClock(time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC))
	r := startDaemon(t, cfg, path, clock, "metrics", nil)
	for range 3 {
		clock.WaitTimers(1, wait)
		clock.AdvanceToNext()
		r.finished(t)
		r.finished(t)
	}
	return r, clock
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestMetricsMatchTheRuns(t *testing.T) {
	r, _ := withRuns(t)
	srv := httptest.NewServer(r.d.Handler())
	defer srv.Close()

	code, body := get(t, srv.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		mf, ok := families[name]
		if !ok {
			t.Fatalf("no metric %s", name)
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
		t.Fatalf("no %s with labels %v", name, labels)
		return 0
	}

	// The counters match what the state store recorded.
	runs, err := r.store.Runs(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]float64{}
	written := map[string]float64{}
	var lastSuccess time.Time
	for _, run := range runs {
		count[run.Job+" "+string(run.Status)]++
		written[run.Job] += float64(run.Written)
		if run.Job == "leads" && run.EndedAt.After(lastSuccess) {
			lastSuccess = run.EndedAt
		}
	}
	got := map[string]float64{
		"leads succeeded": value("nightjar_runs_total", map[string]string{"job": "leads", "status": "succeeded"}),
		"leads failed":    value("nightjar_runs_total", map[string]string{"job": "leads", "status": "failed"}),
		"broken failed":   value("nightjar_runs_total", map[string]string{"job": "broken", "status": "failed"}),
	}
	want := map[string]float64{"leads succeeded": count["leads succeeded"], "leads failed": 0, "broken failed": count["broken failed"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("nightjar_runs_total (-store +metrics):\n%s", diff)
	}
	if want["leads succeeded"] != 3 || want["broken failed"] != 3 {
		t.Errorf("store has %v, want 3 runs of each job", count)
	}
	if got := value("nightjar_rows_written_total", map[string]string{"job": "leads"}); got != written["leads"] || got != 42 {
		t.Errorf("nightjar_rows_written_total{leads} = %v, store says %v, want 42", got, written["leads"])
	}
	if got := value("nightjar_rows_read_total", map[string]string{"job": "leads"}); got != 42 {
		t.Errorf("nightjar_rows_read_total{leads} = %v, want 42", got)
	}
	if got := value("nightjar_run_duration_seconds", map[string]string{"job": "leads"}); got != 3 {
		t.Errorf("nightjar_run_duration_seconds{leads} has %v samples, want 3", got)
	}
	if got := value("nightjar_last_success_timestamp_seconds", map[string]string{"job": "leads"}); got != float64(lastSuccess.Unix()) {
		t.Errorf("last success %v, want %v (%s)", got, lastSuccess.Unix(), lastSuccess)
	}
	if _, ok := families["nightjar_last_success_timestamp_seconds"]; ok {
		for _, m := range families["nightjar_last_success_timestamp_seconds"].GetMetric() {
			if m.GetLabel()[0].GetValue() == "broken" {
				t.Error("a job that never succeeded has a last success time")
			}
		}
	}

	if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, srv.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz while running: %d %q", code, body)
	}
	r.shutdown(t)
	if code, _ := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after stop: %d, want 503", code)
	}
}

// chromium finds a Chromium binary.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("no Chromium on this machine: apt-get install -y chromium (the status page is checked in a real browser)")
	return ""
}

// headless runs Chromium headless on url with extra arguments.
func headless(t *testing.T, bin, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), url)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	r, _ := withRuns(t)
	srv := httptest.NewServer(r.d.Handler())
	defer srv.Close()

	// One browser start renders the page, dumps its DOM and screenshots it.
	shot := filepath.Join(t.TempDir(), "status.png")
	dom := string(headless(t, bin, srv.URL+"/", "--dump-dom", "--screenshot="+shot, "--window-size=1400,700", "--hide-scrollbars"))
	jobsTable := regexp.MustCompile(`(?s)<table id="jobs">.*?</table>`).FindString(dom)
	if jobsTable == "" {
		t.Fatalf("no jobs table in the rendered page:\n%s", dom)
	}
	rows := regexp.MustCompile(`(?s)<tr class="job" data-job="([^"]+)">(.*?)</tr>`).FindAllStringSubmatch(jobsTable, -1)
	var names []string
	for _, row := range rows {
		names = append(names, row[1])
		cells := row[2]
		// Each job's chart has one bar per run: three.
		if n := strings.Count(cells, `<rect class="bar`); n != 3 {
			t.Errorf("job %s: chart has %d bars, want 3", row[1], n)
		}
		if !strings.Contains(cells, "<svg") {
			t.Errorf("job %s: no chart", row[1])
		}
		switch row[1] {
		case "leads":
			for _, want := range []string{"@every 1m", "succeeded", ">14<", "2026-05-04T08:04:00Z"} {
				if !strings.Contains(cells, want) {
					t.Errorf("leads row lacks %q:\n%s", want, cells)
				}
			}
			// Equal runs make bars of full height.
			if !strings.Contains(cells, `height="46"`) {
				t.Errorf("leads bars are not full height:\n%s", cells)
			}
		case "broken":
			for _, want := range []string{"failed", "probe source told to fail", `class="bar failed"`} {
				if !strings.Contains(cells, want) {
					t.Errorf("broken row lacks %q:\n%s", want, cells)
				}
			}
		}
	}
	if diff := cmp.Diff([]string{"leads", "broken"}, names); diff != "" {
		t.Errorf("jobs in the table (-want +got):\n%s", diff)
	}
	if n := strings.Count(regexp.MustCompile(`(?s)<table id="runs">.*?</table>`).FindString(dom), "<tr>"); n != 1+6 {
		t.Errorf("runs table has %d rows, want a header and 6 runs", n)
	}

	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 5000 {
		t.Errorf("screenshot is not a PNG of a rendered page (%d bytes)", len(png))
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if dir := os.Getenv("NIGHTJAR_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "status.png"), png, 0o644)
	}
}

func TestRowsChart(t *testing.T) {
	runs := []etl.Run{ // newest first, as the store lists them
		{ID: 3, Status: etl.RunFailed, Counters: etl.Counters{Written: 0}},
		{ID: 2, Status: etl.RunSucceeded, Counters: etl.Counters{Written: 50}},
		{ID: 1, Status: etl.RunSucceeded, Counters: etl.Counters{Written: 100}},
	}
	c := rowsChart(runs)
	got := make([]string, len(c.Bars))
	for i, b := range c.Bars {
		got[i] = fmt.Sprintf("x=%d h=%d %s", b.X, b.H, b.Status)
	}
	want := []string{"x=0 h=46 succeeded", "x=8 h=23 succeeded", "x=16 h=1 failed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bars (-want +got):\n%s", diff)
	}
}
