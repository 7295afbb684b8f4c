package daemon

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"

	// The components of the permanent-failure cases: a webhook target
	// against an API that refuses the token, a strict SQLite table.
	_ "github.com/nightjar-etl/nightjar/connectors/sqlite"
	_ "github.com/nightjar-etl/nightjar/connectors/webhook"
)

// hook is a Slack-compatible incoming webhook: an httptest server that
// hands over each message's text.
type hook struct {
	URL   string
	texts chan string
}

func newHook(t *testing.T) *hook {
	t.Helper()
	h := &hook{texts: make(chan string, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg map[string]string
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook got a body that is not Slack JSON: %v", err)
		}
		h.texts <- msg["text"]
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// next waits for the next message, in real time: the fake clock does not
// move meanwhile, so a message that comes was sent without waiting for
// any retry.
func (h *hook) next(t *testing.T) string {
	t.Helper()
	select {
	case text := <-h.texts:
		return text
	case <-time.After(wait):
		t.Fatalf("the webhook heard nothing within %s", wait)
		return ""
	}
}

// rest returns the messages received so far and not taken.
func (h *hook) rest() []string {
	var out []string
	for {
		select {
		case text := <-h.texts:
			out = append(out, text)
		default:
			return out
		}
	}
}

// startHooked starts a daemon that tells a fresh hook, on the config text
// written to dir, its fake clock at 02:00 UTC.
func startHooked(t *testing.T, dir, text string) (*running, *etltest.Clock, *hook) {
	t.Helper()
	h := newHook(t)
	cfg, path := writeConfig(t, dir, text)
	clock := etltest.NewClock(time.Date(2026, 5, 4, 2, 0, 0, 0, time.UTC))
	r := startDaemon(t, cfg, path, clock, "hooked", func(o *Options) { o.Webhook = h.URL })
	return r, clock, h
}

func wantContains(t *testing.T, what, text string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("%s %q lacks %q", what, text, p)
		}
	}
}

// TestWebhookOnFailureAndRecovery: a job that fails is announced once,
// not on every run (an @every 2s job against a target that is down posted
// every 2 s), reminded at most hourly, and its recovery announced.
func TestWebhookOnFailureAndRecovery(t *testing.T) {
	name := probeName("flaky")
	p := probes.get(name)
	r, clock, h := startHooked(t, t.TempDir(), fmt.Sprintf(`jobs:
  flaky:
    schedule: "@every 30m"
    source: { type: probesrc, probe: %[1]s, rows: 3 }
    targets: [ { type: probe, probe: %[1]s } ]
`, name))
	for _, fail := range []bool{true, true, true, true, false, false} {
		p.fail.Store(fail)
		clock.WaitTimers(1, wait)
		clock.AdvanceToNext()
		r.finished(t)
	}
	r.shutdown(t) // waits for the posts in flight

	texts := h.rest()
	want := []string{
		"job *flaky* failed (run 1", // 02:30
		"job *flaky* still failing: 3 run(s) failed since 2026-05-04 02:30:00 UTC, the last run 3", // 03:30
		"job *flaky* recovered (run 5): read 3, written 3",                                         // 04:30
	}
	if len(texts) != len(want) {
		t.Fatalf("webhook got %d messages, want %d: %q", len(texts), len(want), texts)
	}
	for i, w := range want {
		if !strings.Contains(texts[i], w) {
			t.Errorf("message %d: %q, want it to contain %q", i+1, texts[i], w)
		}
	}
	if !strings.Contains(texts[0], "probe source told to fail") {
		t.Errorf("failure message lacks the error: %q", texts[0])
	}
}

// TestPermanentFailureIsNotRetriedAndNotifiedAtOnce runs jobs that have
// retries and fail permanently — too many rejects (their rows already
// checkpointed: a retry would read nothing and succeed), a 401 from an
// API, a strict table refusing a field — through the real runner and state
// store: one run, failed, no retry, and the webhook hears of it at once.
func TestPermanentFailureIsNotRetriedAndNotifiedAtOnce(t *testing.T) {
	var apiHits atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiHits.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid token"}`))
	}))
	defer api.Close()

	tests := []struct {
		name string
		// job is the job's source, steps and targets; %[1]s is the probe,
		// %[2]s the test's directory.
		job     string
		setup   func(t *testing.T, dir string)
		wantErr string
		check   func(t *testing.T, run etl.Run, err error)
	}{
		{
			name: "too many rejects",
			job: `    source: { type: probesrc, probe: %[1]s, rows: 6, rejects: 4 }
    on_reject: { max_ratio: 0.1 }
    targets: [ { type: probe, probe: %[1]s } ]
`,
			wantErr: "too many rejected rows: 4 of 10 rows",
			check: func(t *testing.T, run etl.Run, err error) {
				if !errors.Is(err, etl.ErrTooManyRejects) {
					t.Errorf("err = %v, want ErrTooManyRejects", err)
				}
				if run.Read != 10 || run.Written != 6 || run.Rejected != 4 {
					t.Errorf("run read %d, written %d, rejected %d; want 10, 6, 4 (checkpointed before the ratio failed)", run.Read, run.Written, run.Rejected)
				}
			},
		},
		{
			name: "401 from the API",
			job: `    source: { type: probesrc, probe: %[1]s, rows: 3 }
    targets: [ { type: webhook, url: "` + api.URL + `/records", token: "sekrit-token-42" } ]
`,
			wantErr: "HTTP 401",
			check: func(t *testing.T, run etl.Run, err error) {
				if n := apiHits.Swap(0); n != 1 {
					t.Errorf("the API was called %d times, want 1", n)
				}
				if strings.Contains(err.Error(), "sekrit") {
					t.Errorf("err = %v: holds the token", err)
				}
			},
		},
		{
			name: "strict schema",
			job: `    source: { type: probesrc, probe: %[1]s, rows: 3 }
    targets: [ { type: table, connection: wh, table: leads, schema: strict } ]
connections:
  wh: { type: sqlite, path: "%[2]s/wh.db" }
`,
			setup: func(t *testing.T, dir string) {
				db, err := sql.Open("sqlite3", filepath.Join(dir, "wh.db"))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(`CREATE TABLE leads (email TEXT)`); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "schema: strict",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			r, clock, h := startHooked(t, dir, "jobs:\n  nightly:\n    schedule: \"@every 1h\"\n    retries: 3\n    retry_backoff: 10s\n"+
				fmt.Sprintf(tt.job, probeName("permanent"), dir))
			clock.WaitTimers(1, wait)
			clock.AdvanceToNext()

			e := r.attemptEnded(t)
			if !e.Final || e.Attempt != 1 || !e.RetryAt.IsZero() || !etl.IsPermanent(e.Err) {
				t.Fatalf("first run: final %v, attempt %d, retry at %v, err %v; want a final permanent failure, no retry",
					e.Final, e.Attempt, e.RetryAt, e.Err)
			}
			if !strings.Contains(e.Err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to say %q", e.Err, tt.wantErr)
			}
			// Heard at once: the fake clock has not moved since the run.
			text := h.next(t)
			wantContains(t, "message", text, "job *nightly* failed (run 1, schedule, attempt 1 of 4)", tt.wantErr, "permanent failure, not retried")
			runs, err := r.store.Runs(context.Background(), "nightly", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 1 || runs[0].Status != etl.RunFailed {
				t.Fatalf("runs in the store: %+v, want one, failed", runs)
			}
			if tt.check != nil {
				tt.check(t, runs[0], e.Err)
			}
			r.shutdown(t)
			if more := h.rest(); len(more) != 0 {
				t.Errorf("more messages after the failure: %q", more)
			}
		})
	}
}

// TestTransientFailureIsRetriedAndNotifiedAtFirstFailure: a run that fails
// transiently is announced at once with its retry time, retried at that
// time per the job's policy, and its outcome told once it is known.
func TestTransientFailureIsRetriedAndNotifiedAtFirstFailure(t *testing.T) {
	tests := []struct {
		name    string
		retries int
		fails   []bool // per attempt
		stop    bool   // the daemon stops while the last retry is due
		want    []string
	}{
		{name: "recovers on the last attempt", retries: 2, fails: []bool{true, true, false},
			want: []string{"recovered (run 3, retry, attempt 3 of 3): read 10, written 10"}},
		{name: "gives up", retries: 1, fails: []bool{true, true},
			want: []string{"failed (run 2, retry, attempt 2 of 2): read: probe source told to fail", "gave up after 2 attempts"}},
		{name: "daemon stops before the retry", retries: 1, fails: []bool{true}, stop: true,
			want: []string{"the retry due at", "was not made: the daemon stopped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := probeName("transient")
			p := probes.get(name)
			r, clock, h := startHooked(t, t.TempDir(), fmt.Sprintf(`jobs:
  sync:
    schedule: "@every 1h"
    retries: %d
    retry_backoff: 10s
    source: { type: probesrc, probe: %s }
    targets: [ { type: probe, probe: %[2]s } ]
`, tt.retries, name))

			var last time.Time // the retry time announced by the last failure
			for i, fail := range tt.fails {
				p.fail.Store(fail)
				if i == 0 {
					clock.WaitTimers(1, wait)
				} else {
					// The backoff's timer and the next scheduled time's.
					clock.WaitTimers(2, wait)
				}
				now, _ := clock.AdvanceToNext()
				if i > 0 && !now.Equal(last) {
					t.Errorf("attempt %d at %s, announced for %s", i+1, now, last)
				}
				e := r.attemptEnded(t)
				lastAttempt := i == len(tt.fails)-1
				if e.Attempt != i+1 || e.MaxAttempts != tt.retries+1 || (e.Err != nil) != fail || e.Final != (lastAttempt && !tt.stop) {
					t.Fatalf("attempt %d: got attempt %d of %d, final %v, err %v", i+1, e.Attempt, e.MaxAttempts, e.Final, e.Err)
				}
				if !e.Final {
					// The job's policy: 10 s, doubling, ±50 %.
					centre := 10 * time.Second << i
					if wait := e.RetryAt.Sub(e.At); wait < centre/2 || wait > centre*3/2+time.Microsecond {
						t.Errorf("attempt %d: retry announced in %v, want within ±50 %% of %v", i+1, wait, centre)
					}
					last = e.RetryAt
				}
				if i == 0 {
					// At once, before the clock moves towards the retry.
					text := h.next(t)
					wantContains(t, "first message", text,
						"job *sync* failed (run 1, schedule, attempt 1 of "+fmt.Sprint(tt.retries+1)+"): read: probe source told to fail",
						"retrying at "+e.RetryAt.UTC().Round(time.Second).Format("2006-01-02 15:04:05 UTC"))
				}
			}
			r.shutdown(t) // waits for the posts in flight
			rest := h.rest()
			if len(rest) != 1 {
				t.Fatalf("messages after the first: %q, want one with the outcome", rest)
			}
			wantContains(t, "outcome", rest[0], tt.want...)
			if tt.stop {
				wantContains(t, "outcome", rest[0], last.UTC().Round(time.Second).Format("2006-01-02 15:04:05 UTC"))
			}
			runs, err := r.store.Runs(context.Background(), "sync", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != len(tt.fails) {
				t.Errorf("%d runs in the store, want %d", len(runs), len(tt.fails))
			}
		})
	}
}
