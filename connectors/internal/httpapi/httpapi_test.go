package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

var t0 = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `quote " backslash \ `, "tab\tnl\ncr\r\x00\x1f", "<a&b>", "Zoë 日本", "\u2028\u2029", "bad \xff utf8"} {
		got := string(httpapi.AppendJSONString(nil, s))
		want, _ := json.Marshal(s)
		if got != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func TestRedactorHidesLongestFirstAndEncodedForms(t *testing.T) {
	t.Parallel()
	r := httpapi.NewRedactor("abcd", "abcdefgh", "a b+c/d", "xy")
	got := r.Redact("abcdefgh abcd a+b%2Bc%2Fd a%20b+c%2Fd xy")
	if got != "[redacted] [redacted] [redacted] [redacted] xy" {
		t.Errorf("got %q", got)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	var v any
	json.Unmarshal([]byte(`{"paging":{"next":{"after":"42"}},"items":[{"id":7}]}`), &v)
	if s, ok := httpapi.LookupString(v, "paging.next.after"); !ok || s != "42" {
		t.Errorf("paging.next.after = %q %v", s, ok)
	}
	if s, ok := httpapi.LookupString(v, "items.0.id"); !ok || s != "7" {
		t.Errorf("items.0.id = %q %v", s, ok)
	}
	if _, ok := httpapi.Lookup(v, "items.1.id"); ok {
		t.Error("items.1 found")
	}
}

func TestRetryAfterDateAndBudget(t *testing.T) {
	t.Parallel()
	clock := etltest.NewClock(t0)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", clock.Now().Add(90*time.Second).Format(http.TimeFormat))
			w.WriteHeader(429)
			return
		}
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c, err := httpapi.New(httpapi.Options{BaseURL: srv.URL, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(context.Background(), httpapi.Request{Path: "/x"})
	if err != nil || resp.Attempts != 2 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if s := clock.Slept(); s != 90*time.Second {
		t.Errorf("slept %v, want the 90s of the HTTP-date Retry-After", s)
	}

	// A Retry-After beyond the wait budget fails at once, without sleeping.
	n.Store(0)
	c, _ = httpapi.New(httpapi.Options{BaseURL: srv.URL, Clock: clock, MaxWait: time.Minute})
	before := clock.Slept()
	_, err = c.Do(context.Background(), httpapi.Request{Path: "/x"})
	if !errors.Is(err, httpapi.ErrWaitTooLong) || !strings.Contains(err.Error(), "asked to wait 1m30s") ||
		!strings.Contains(err.Error(), "max_wait is 1m0s") {
		t.Errorf("err = %v, want ErrWaitTooLong saying what was asked and the bound", err)
	}
	if clock.Slept() != before {
		t.Errorf("slept %v before failing", clock.Slept()-before)
	}
}

func TestSharedLimitPacesAndPauses(t *testing.T) {
	t.Parallel()
	clock := etltest.NewClock(t0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Max", "5")
		w.Header().Set("X-Remaining", r.URL.Query().Get("remaining"))
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	key := new(int)
	limit := httpapi.SharedLimit(key, 10, time.Second, 1)
	if httpapi.SharedLimit(key, 99, time.Second, 1) != limit {
		t.Fatal("a connection's limit is not shared")
	}
	pacer := func(h http.Header) (httpapi.Pace, bool) {
		var p httpapi.Pace
		p.Window = time.Second
		p.Max = 5
		p.Remaining = len(h.Get("X-Remaining"))
		return p, true
	}
	c, _ := httpapi.New(httpapi.Options{BaseURL: srv.URL, Clock: clock, Limit: limit, Pacer: pacer})
	ctx := context.Background()
	for range 3 {
		if _, err := c.Do(ctx, httpapi.Request{Path: "/x", Query: map[string][]string{"remaining": {"xxx"}}}); err != nil {
			t.Fatal(err)
		}
	}
	// The headers say 5 per second: the limit drops from 10/s to 5/s.
	if got := limit.PerSecond(); got != 5 {
		t.Errorf("rate = %v/s, want 5 (from the headers)", got)
	}
	before := clock.Slept()
	c.Do(ctx, httpapi.Request{Path: "/x", Query: map[string][]string{"remaining": {""}}}) // none left: pause 1 window
	c.Do(ctx, httpapi.Request{Path: "/x"})
	if waited := clock.Slept() - before; waited < time.Second {
		t.Errorf("waited %v after a spent window, want at least 1s", waited)
	}
}

func TestNetworkErrorsAreRetriedAndNameNoQuery(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := srv.URL
	srv.Close() // connection refused from now on
	clock := etltest.NewClock(t0)
	c, _ := httpapi.New(httpapi.Options{BaseURL: url, Clock: clock, MaxRetries: 3, Secrets: []string{"sekrit-key"}})
	_, err := c.Do(context.Background(), httpapi.Request{Path: "/v1/items", Query: map[string][]string{"key": {"sekrit-key"}}})
	if !errors.Is(err, httpapi.ErrRetriesExhausted) || !strings.Contains(err.Error(), "after 4 attempts") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "sekrit") || !strings.Contains(err.Error(), "/v1/items") {
		t.Errorf("err = %v: want the path, never the query's key", err)
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    httpapi.Settings
		path string
	}{
		{httpapi.Settings{BaseURL: "api.example.com"}, "base_url"},
		{httpapi.Settings{RateLimit: httpapi.RateLimitConfig{Requests: 10}}, "rate_limit"},
		{httpapi.Settings{AuthConfig: httpapi.AuthConfig{Token: "t", Basic: &httpapi.BasicConfig{Username: "u"}}}, "basic"},
		{httpapi.Settings{AuthConfig: httpapi.AuthConfig{OAuth2: &httpapi.OAuth2Config{TokenURL: "x", ClientID: "c"}}}, "oauth2"},
		{httpapi.Settings{CrossOrigin: "follow"}, "cross_origin"},
		{httpapi.Settings{MaxBody: -1}, "max_body"},
		{httpapi.Settings{MaxWait: -time.Second}, "max_wait"},
	} {
		err := tc.s.Validate(false)
		if err == nil || !strings.HasPrefix(err.Error(), "["+tc.path) {
			t.Errorf("%+v: err = %v, want one about %s", tc.s, err, tc.path)
		}
	}
}

func TestOAuth2RefreshTokenIsExchangedAndHidden(t *testing.T) {
	t.Parallel()
	var tokenCalls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			tokenCalls.Add(1)
			r.ParseForm()
			if r.Form.Get("refresh_token") != "refresh-me-0001" {
				w.WriteHeader(400)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"access-0002","token_type":"Bearer","expires_in":3600}`))
		default:
			if r.Header.Get("Authorization") != "Bearer access-0002" {
				w.WriteHeader(401)
				return
			}
			w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	a := httpapi.AuthConfig{OAuth2: &httpapi.OAuth2Config{TokenURL: srv.URL + "/token", ClientID: "app", ClientSecret: "shh-0003", RefreshToken: "refresh-me-0001"}}
	c, _ := httpapi.New(httpapi.Options{BaseURL: srv.URL, Auth: a.Authorizer(nil), Secrets: a.Secrets()})
	for range 3 {
		if _, err := c.Do(context.Background(), httpapi.Request{Path: "/x"}); err != nil {
			t.Fatal(err)
		}
	}
	if tokenCalls.Load() != 1 {
		t.Errorf("token endpoint called %d times, want 1 (the token is reused)", tokenCalls.Load())
	}
}

// TestRefusedCredentialsFailAtOnce: a 401 or 403 is permanent (no retry
// here, none by the scheduler), while a 503 is retried to the budget and
// stays transient.
func TestRefusedCredentialsFailAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status    int
		permanent bool
		requests  int32
	}{
		{http.StatusUnauthorized, true, 1},
		{http.StatusForbidden, true, 1},
		{http.StatusServiceUnavailable, false, 4},
	} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.WriteHeader(tc.status)
			w.Write([]byte(`{"message":"nope"}`))
		}))
		clock := etltest.NewClock(t0)
		c, _ := httpapi.New(httpapi.Options{BaseURL: srv.URL, Clock: clock, MaxRetries: 3})
		_, err := c.Do(context.Background(), httpapi.Request{Path: "/crm/contacts"})
		srv.Close()
		var se *httpapi.StatusError
		if !errors.As(err, &se) || se.Status != tc.status {
			t.Errorf("HTTP %d: err = %v, want a *StatusError of that status", tc.status, err)
		}
		if got := etl.IsPermanent(err); got != tc.permanent {
			t.Errorf("HTTP %d: IsPermanent = %v, want %v (err %v)", tc.status, got, tc.permanent, err)
		}
		if n.Load() != tc.requests {
			t.Errorf("HTTP %d: %d requests, want %d", tc.status, n.Load(), tc.requests)
		}
		if tc.permanent && clock.Slept() != 0 {
			t.Errorf("HTTP %d: waited %v before failing, want no wait", tc.status, clock.Slept())
		}
	}
}

func TestRefusedOAuth2GrantIsPermanent(t *testing.T) {
	t.Parallel()
	var tokenCalls, apiCalls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			tokenCalls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant","error_description":"refresh token revoked"}`))
			return
		}
		apiCalls.Add(1)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	a := httpapi.AuthConfig{OAuth2: &httpapi.OAuth2Config{TokenURL: srv.URL + "/token", ClientID: "app", RefreshToken: "revoked-0004"}}
	clock := etltest.NewClock(t0)
	c, _ := httpapi.New(httpapi.Options{BaseURL: srv.URL, Auth: a.Authorizer(nil), Secrets: a.Secrets(), Clock: clock})
	_, err := c.Do(context.Background(), httpapi.Request{Path: "/x"})
	if !etl.IsPermanent(err) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("err = %v, want a permanent error naming invalid_grant", err)
	}
	if strings.Contains(err.Error(), "revoked-0004") {
		t.Errorf("err = %v: holds the refresh token", err)
	}
	// One attempt: golang.org/x/oauth2 tries the client's credentials in
	// the header, then in the form, so up to 2 token requests; retried
	// attempts would make 2 more each.
	if tokenCalls.Load() > 2 || apiCalls.Load() != 0 || clock.Slept() != 0 {
		t.Errorf("token requests %d, API requests %d, waited %v; want at most 2, 0, none", tokenCalls.Load(), apiCalls.Load(), clock.Slept())
	}
}

// sleepLog records each wait of a client on a fake clock.
type sleepLog struct {
	*etltest.Clock
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepLog) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return s.Clock.Sleep(ctx, d)
}

// TestRetryWaitsFollowTheSharedPolicy: the waits between attempts are the
// etl.Backoff policy's, each within its jitter of Initial·2ᵏ capped at Max.
func TestRetryWaitsFollowTheSharedPolicy(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	policy := etl.Backoff{Initial: 10 * time.Second, Max: 40 * time.Second}
	for range 20 {
		clock := &sleepLog{Clock: etltest.NewClock(t0)}
		c, _ := httpapi.New(httpapi.Options{BaseURL: srv.URL, Clock: clock, MaxRetries: 5, MaxWait: time.Hour, Backoff: policy})
		if _, err := c.Do(context.Background(), httpapi.Request{Path: "/x"}); !errors.Is(err, httpapi.ErrRetriesExhausted) {
			t.Fatalf("err = %v, want ErrRetriesExhausted", err)
		}
		centres := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 40 * time.Second, 40 * time.Second}
		if len(clock.waits) != len(centres) {
			t.Fatalf("waits %v, want %d", clock.waits, len(centres))
		}
		jitter := etl.DefaultBackoff.Jitter
		for k, w := range clock.waits {
			lo, hi := time.Duration(float64(centres[k])*(1-jitter)), time.Duration(float64(centres[k])*(1+jitter))+time.Microsecond
			if w < lo || w > hi {
				t.Errorf("wait %d: %v, want within [%v, %v] (all: %v)", k+1, w, lo, hi, clock.waits)
			}
		}
	}
}
