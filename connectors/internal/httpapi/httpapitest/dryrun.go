package httpapitest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// CountingServer is a server that answers 200 to everything and counts
// the requests it receives: a dry run against it must send none. It is
// closed at the test's end.
func CountingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	t.Cleanup(srv.Close)
	return srv, &n
}

// CheckDryRunLines checks a dry run's lines: the first is want[0], the
// second (the first body) contains every other want, and no line holds a
// secret.
func CheckDryRunLines(t *testing.T, lines []string, secrets []string, want ...string) {
	t.Helper()
	if len(lines) < 2 {
		t.Fatalf("lines = %q, want the requests and a body", lines)
	}
	if lines[0] != want[0] {
		t.Errorf("line 0 = %q, want %q", lines[0], want[0])
	}
	body := lines[len(lines)-1]
	if !strings.HasPrefix(body, "first body (") {
		t.Errorf("last line = %q, want the first body", body)
	}
	for _, w := range want[1:] {
		if !strings.Contains(body, w) {
			t.Errorf("body line %q lacks %q", body, w)
		}
	}
	for _, l := range lines {
		for _, s := range secrets {
			if strings.Contains(l, s) {
				t.Errorf("line %q shows the secret %q", l, s)
			}
		}
	}
}
