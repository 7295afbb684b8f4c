package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/jobs/jobstest"
)

func TestWebhookOnFailureAndRecovery(t *testing.T) {
	var mu sync.Mutex
	var texts []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg map[string]string
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook got a body that is not Slack JSON: %v", err)
		}
		mu.Lock()
		texts = append(texts, msg["text"])
		mu.Unlock()
	}))
	defer hook.Close()

	name := probeName("flaky")
	p := probes.get(name)
	cfg, path := writeConfig(t, t.TempDir(), fmt.Sprintf(`jobs:
  flaky:
    schedule: "@every 1m"
    source: { type: probesrc, probe: %[1]s, rows: 3 }
    targets: [ { type: probe, probe: %[1]s } ]
`, name))
	clock := jobstest.NewClock(time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC))
	r := startDaemon(t, cfg, path, clock, "hook", func(o *Options) { o.Webhook = hook.URL })
	for _, fail := range []bool{true, true, false, false} {
		p.fail.Store(fail)
		clock.WaitTimers(1, wait)
		clock.AdvanceToNext()
		r.finished(t)
	}
	r.shutdown(t) // waits for the posts in flight

	mu.Lock()
	defer mu.Unlock()
	if len(texts) != 3 {
		t.Fatalf("webhook got %d messages, want 2 failures and 1 recovery: %q", len(texts), texts)
	}
	for i, want := range []string{"job *flaky* failed (run 1", "job *flaky* failed (run 2", "job *flaky* recovered (run 3): read 3, written 3"} {
		if !strings.Contains(texts[i], want) {
			t.Errorf("message %d: %q, want it to contain %q", i+1, texts[i], want)
		}
	}
	if !strings.Contains(texts[0], "probe source told to fail") {
		t.Errorf("failure message lacks the error: %q", texts[0])
	}
}
