package httpapi_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// recorder is a server standing in for "another host" (another port on
// loopback): it records every header value it is sent.
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	values []string
	hits   int
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.hits++
		for k, vs := range req.Header {
			for _, v := range vs {
				r.values = append(r.values, k+": "+v)
			}
		}
		r.mu.Unlock()
		w.Write([]byte(`{"stolen":true}`))
	}))
	t.Cleanup(r.Close)
	return r
}

// leaked returns the header values the recorder got holding one of the
// secrets (raw or base64, as basic auth sends it).
func (r *recorder) leaked(secrets ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, v := range r.values {
		for _, s := range secrets {
			if s == "" {
				continue
			}
			if strings.Contains(v, s) || strings.Contains(v, base64.StdEncoding.EncodeToString([]byte(s))) {
				out = append(out, v)
			}
		}
	}
	return out
}

// authKinds are every auth kind, each with its secrets, plus a configured
// header; the OAuth2 one gets its token from tokenURL.
func authKinds(tokenURL string) map[string]httpapi.Settings {
	return map[string]httpapi.Settings{
		"token":   {AuthConfig: httpapi.AuthConfig{Token: "tok-secret-0101"}},
		"basic":   {AuthConfig: httpapi.AuthConfig{Basic: &httpapi.BasicConfig{Username: "ann", Password: "pw-secret-0202"}}},
		"api_key": {AuthConfig: httpapi.AuthConfig{APIKey: &httpapi.APIKeyConfig{Header: "X-API-Key", Value: "key-secret-0303"}}},
		"oauth2": {AuthConfig: httpapi.AuthConfig{OAuth2: &httpapi.OAuth2Config{TokenURL: tokenURL, ClientID: "app",
			ClientSecret: "cs-secret-0404", RefreshToken: "rt-secret-0505"}}},
		"headers": {Headers: map[string]string{"X-Tenant-Key": "hdr-secret-0606"}},
	}
}

const oauthAccess = "access-secret-0707"

// TestCredentialsStayAtTheirOrigin: a next link (an absolute URL) or a
// redirect to another origin (another port on the same address included)
// never carries the credentials of any auth kind: refused by default with
// both origins named, or followed without them under cross_origin: strip.
func TestCredentialsStayAtTheirOrigin(t *testing.T) {
	t.Parallel()
	other := newRecorder(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, oauthAccess)
		case "/redirect":
			http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
		case "/redirect-home":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			w.Write([]byte(`{}`))
		}
	}))
	defer origin.Close()
	for kind, s := range authKinds(origin.URL + "/token") {
		secrets := append(s.Secrets(), oauthAccess)
		for _, tc := range []struct {
			name, path, policy string
		}{
			{"next link", other.URL + "/page2?cursor=2", ""},
			{"redirect", "/redirect", ""},
			{"next link", other.URL + "/page2?cursor=2", httpapi.CrossOriginStrip},
			{"redirect", "/redirect", httpapi.CrossOriginStrip},
		} {
			s.BaseURL, s.CrossOrigin = origin.URL, tc.policy
			c, err := httpapi.New(s.Options(nil))
			if err != nil {
				t.Fatal(err)
			}
			other.mu.Lock()
			hitsBefore := other.hits
			other.mu.Unlock()
			_, err = c.Do(context.Background(), httpapi.Request{Path: tc.path})
			other.mu.Lock()
			hits := other.hits - hitsBefore
			other.mu.Unlock()
			if tc.policy == "" {
				if !errors.Is(err, httpapi.ErrCrossOrigin) || !etl.IsPermanent(err) ||
					!strings.Contains(err.Error(), strings.TrimPrefix(other.URL, "http://")) ||
					!strings.Contains(err.Error(), strings.TrimPrefix(origin.URL, "http://")) {
					t.Errorf("%s, %s: err = %v, want a permanent ErrCrossOrigin naming both origins", kind, tc.name, err)
				}
				if hits != 0 {
					t.Errorf("%s, %s: the other origin got %d requests, want none", kind, tc.name, hits)
				}
			} else if err != nil || hits != 1 {
				t.Errorf("%s, %s, strip: err = %v, %d requests at the other origin; want it followed", kind, tc.name, err, hits)
			}
		}
		// Back home after a redirect on the origin: credentials still go.
		s.CrossOrigin = ""
		c, _ := httpapi.New(s.Options(nil))
		if _, err := c.Do(context.Background(), httpapi.Request{Path: "/redirect-home"}); err != nil {
			t.Errorf("%s: same-origin redirect: %v", kind, err)
		}
		if got := other.leaked(secrets...); len(got) > 0 {
			t.Errorf("%s: the other origin received %q", kind, got)
		}
	}
}

// TestSecretsNeverPrintedInErrors: a server echoing the request headers in
// a 400 body gets nothing of basic credentials (their base64 included)
// into the error, and a token straddling the snippet's cut is not printed
// in part.
func TestSecretsNeverPrintedInErrors(t *testing.T) {
	t.Parallel()
	const token = "tok-abcdefghijklmnopqrst" // 24 characters
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		if r.URL.Path == "/cut" {
			// The token starts 20 bytes before the 512-byte cut.
			fmt.Fprint(w, strings.Repeat("x", 492)+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+" tail")
			return
		}
		for k, vs := range r.Header {
			fmt.Fprintf(w, "%s=%s\n", k, vs)
		}
	}))
	defer srv.Close()

	basic := httpapi.Settings{BaseURL: srv.URL, AuthConfig: httpapi.AuthConfig{Basic: &httpapi.BasicConfig{Username: "ann", Password: "pw-secret-0202"}}}
	c, _ := httpapi.New(basic.Options(nil))
	_, err := c.Do(context.Background(), httpapi.Request{Path: "/echo"})
	b64 := base64.StdEncoding.EncodeToString([]byte("ann:pw-secret-0202"))
	if err == nil || strings.Contains(err.Error(), b64) || strings.Contains(err.Error(), "pw-secret-0202") {
		t.Errorf("basic: err = %v", err)
	}
	if err != nil && !strings.Contains(err.Error(), "Basic [redacted]") {
		t.Errorf("basic: err = %v, want the echoed header with its value redacted", err)
	}

	tok := httpapi.Settings{BaseURL: srv.URL, AuthConfig: httpapi.AuthConfig{Token: token}}
	c, _ = httpapi.New(tok.Options(nil))
	_, err = c.Do(context.Background(), httpapi.Request{Path: "/cut"})
	if err == nil {
		t.Fatal("no error")
	}
	for k := 4; k <= len(token); k++ {
		if strings.Contains(err.Error(), token[:k]) {
			t.Fatalf("token cut: err holds the first %d characters of the token: %v", k, err)
		}
	}
}

// TestThrottleLoopEnds: a server answering 429 with Retry-After: 0 (or a
// date in the past) forever gets the retry budget's attempts, each after
// at least MinThrottleWait, and the request fails.
func TestThrottleLoopEnds(t *testing.T) {
	t.Parallel()
	for _, ra := range []string{"0", "Mon, 01 Jan 2001 00:00:00 GMT"} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.Header().Set("Retry-After", ra)
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		clock := etltest.NewClock(t0)
		var logs httpapitest.LogBuffer
		c, _ := httpapi.New(httpapi.Options{BaseURL: srv.URL, Clock: clock, Logger: logs.Logger()})
		_, err := c.Do(context.Background(), httpapi.Request{Path: "/x"})
		srv.Close()
		if !errors.Is(err, httpapi.ErrRetriesExhausted) {
			t.Errorf("Retry-After %s: err = %v, want ErrRetriesExhausted", ra, err)
		}
		if got := n.Load(); got != httpapi.DefaultMaxRetries+1 {
			t.Errorf("Retry-After %s: %d requests, want %d", ra, got, httpapi.DefaultMaxRetries+1)
		}
		if min := httpapi.DefaultMaxRetries * httpapi.MinThrottleWait; clock.Slept() < min {
			t.Errorf("Retry-After %s: slept %v, want at least %v", ra, clock.Slept(), min)
		}
		if !strings.Contains(logs.String(), `cause="HTTP 429, Retry-After: `+ra) {
			t.Errorf("Retry-After %s: retries not logged with their cause:\n%s", ra, logs.String())
		}
	}
}

// TestHugeRetryAfterFailsSayingWhy: Retry-After: 86400 (or a number
// overflowing a duration) fails at once, saying what the server asked for.
func TestHugeRetryAfterFailsSayingWhy(t *testing.T) {
	t.Parallel()
	for _, ra := range []string{"86400", "1e300"} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.Header().Set("Retry-After", ra)
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		clock := etltest.NewClock(t0)
		c, _ := httpapi.New(httpapi.Options{BaseURL: srv.URL, Clock: clock})
		_, err := c.Do(context.Background(), httpapi.Request{Path: "/x"})
		srv.Close()
		if !errors.Is(err, httpapi.ErrWaitTooLong) || !strings.Contains(err.Error(), "Retry-After: "+ra) || n.Load() != 1 || clock.Slept() != 0 {
			t.Errorf("Retry-After %s: err = %v after %d requests, slept %v; want ErrWaitTooLong at once naming the header", ra, err, n.Load(), clock.Slept())
		}
	}
}

// TestCancelEndsAThrottleWait: a cancelled context (the runner's SIGTERM)
// ends a long Retry-After wait at once.
func TestCancelEndsAThrottleWait(t *testing.T) {
	t.Parallel()
	got := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
		select {
		case got <- struct{}{}:
		default:
		}
	}))
	defer srv.Close()
	c, _ := httpapi.New(httpapi.Options{BaseURL: srv.URL, MaxWait: time.Hour, Limit: httpapi.NewLimit(10, time.Second, 1)})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-got
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	_, err := c.Do(ctx, httpapi.Request{Path: "/x"})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Errorf("err = %v after %v, want context.Canceled at once", err, time.Since(start))
	}
}

// TestPacingWaitIsBoundedByMaxWait: rate-limit headers saying the window is
// spent for a day (HubSpot's X-HubSpot-RateLimit-Interval-Milliseconds:
// 86400000 with Remaining: 0) fail the next request at once, saying what
// was asked, rather than sleep a day.
func TestPacingWaitIsBoundedByMaxWait(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	pacer := func(http.Header) (httpapi.Pace, bool) {
		return httpapi.Pace{Max: 100, Remaining: 0, Window: 24 * time.Hour}, true
	}
	clock := etltest.NewClock(t0)
	c, _ := httpapi.New(httpapi.Options{BaseURL: srv.URL, Clock: clock, Pacer: pacer, Limit: httpapi.NewLimit(100, time.Second, 1)})
	if _, err := c.Do(context.Background(), httpapi.Request{Path: "/x"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Do(context.Background(), httpapi.Request{Path: "/x"})
	if !errors.Is(err, httpapi.ErrWaitTooLong) || !strings.Contains(err.Error(), "24h0m0s") || !strings.Contains(err.Error(), "max_wait is 5m0s") {
		t.Errorf("err = %v, want ErrWaitTooLong naming the 24h window and max_wait", err)
	}
	if clock.Slept() > time.Second {
		t.Errorf("slept %v", clock.Slept())
	}

	// Headers lowering the rate to 100 a day (requests left): the token
	// bucket's wait of 864 s is bounded too.
	slow := func(http.Header) (httpapi.Pace, bool) {
		return httpapi.Pace{Max: 100, Remaining: 50, Window: 24 * time.Hour}, true
	}
	c, _ = httpapi.New(httpapi.Options{BaseURL: srv.URL, Clock: clock, Pacer: slow, Limit: httpapi.NewLimit(100, time.Second, 1)})
	if _, err := c.Do(context.Background(), httpapi.Request{Path: "/x"}); err != nil {
		t.Fatal(err)
	}
	before := clock.Slept()
	_, err = c.Do(context.Background(), httpapi.Request{Path: "/x"})
	if !errors.Is(err, httpapi.ErrWaitTooLong) || !strings.Contains(err.Error(), "asked to wait 14m24s") || !strings.Contains(err.Error(), "requests per second") {
		t.Errorf("err = %v, want ErrWaitTooLong naming the rate", err)
	}
	if clock.Slept() != before {
		t.Errorf("slept %v", clock.Slept()-before)
	}
}

// TestBodyCap: a body over max_body fails saying so; one of exactly
// max_body is read whole.
func TestBodyCap(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 1000
		if r.URL.Path == "/big" {
			n++
		}
		w.Write([]byte(strings.Repeat(" ", n-2) + "{}"))
	}))
	defer srv.Close()
	c, _ := httpapi.New(httpapi.Options{BaseURL: srv.URL, MaxBody: 1000})
	if resp, err := c.Do(context.Background(), httpapi.Request{Path: "/fits"}); err != nil || len(resp.Body) != 1000 {
		t.Errorf("a body of max_body: err %v", err)
	}
	_, err := c.Do(context.Background(), httpapi.Request{Path: "/big"})
	if !errors.Is(err, httpapi.ErrBodyTooLarge) || !strings.Contains(err.Error(), "GET /big") || !strings.Contains(err.Error(), "max_body") {
		t.Errorf("err = %v, want ErrBodyTooLarge naming the path and max_body", err)
	}
}
