package gqlapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/gqlapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
)

func client(t *testing.T, body string, clock *httpapitest.Clock) *gqlapi.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := httpapi.New(httpapi.Options{BaseURL: srv.URL, Clock: clock, MaxRetries: -1, Secrets: []string{"s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	return gqlapi.New(c, "/graphql", time.Minute, -1)
}

// Every answer that is not a clean success fails, HTTP 200 or not; the
// error says what the server said, without secrets.
func TestAnswersThatAreNotSuccess(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ body, want string }{
		"errors, null data": {`{"data":null,"errors":[{"message":"boom s3cret","path":["orders",0],"extensions":{"code":"INTERNAL"}}]}`,
			"the response has errors: boom [redacted] (at orders.0) [INTERNAL]"},
		"errors, no data":         {`{"errors":[{"message":"Field 'x' doesn't exist on type 'QueryRoot'"}]}`, "Field 'x' doesn't exist"},
		"errors beside data":      {`{"data":{"orders":null},"errors":[{"message":"partial"}]}`, "the response has errors: partial"},
		"neither data nor errors": {`{"message":"ok"}`, "neither data nor errors"},
		"empty errors, null data": {`{"data":null,"errors":[]}`, "neither data nor errors"},
		"not JSON":                {`<html>maintenance</html>`, "not GraphQL JSON"},
		"errors not a list":       {`{"errors":"bad token"}`, "not GraphQL JSON"},
	} {
		_, err := client(t, c.body, httpapitest.NewClock(time.Now())).Do(context.Background(), "{ x }", "", nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: err = %v; want %q", name, err, c.want)
		}
	}
	if _, err := client(t, `{"data":{"x":1}}`, httpapitest.NewClock(time.Now())).Do(context.Background(), "{ x }", "", nil); err != nil {
		t.Errorf("a clean answer: %v", err)
	}
}

func TestCostWaitFollowsTheBucket(t *testing.T) {
	t.Parallel()
	clock := httpapitest.NewClock(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	c := client(t, `{"data":{"x":1},"extensions":{"cost":{"requestedQueryCost":100,"actualQueryCost":60,
		"throttleStatus":{"maximumAvailable":1000,"currentlyAvailable":40,"restoreRate":50}}}}`, clock)
	if _, err := c.Do(context.Background(), "{ x }", "", nil); err != nil {
		t.Fatal(err)
	}
	// 100 needed, 40 there, 50 a second: 1.2 s; half a second later, 0.7 s.
	if w := c.CostWait(); w != 1200*time.Millisecond {
		t.Errorf("wait %v; want 1.2s", w)
	}
	clock.Advance(500 * time.Millisecond)
	if w := c.CostWait(); w != 700*time.Millisecond {
		t.Errorf("wait after 0.5s %v; want 0.7s", w)
	}
	clock.Advance(time.Second)
	if w := c.CostWait(); w != 0 {
		t.Errorf("wait once refilled %v; want 0", w)
	}
	slow := client(t, `{"data":{"x":1},"extensions":{"cost":{"requestedQueryCost":100,
		"throttleStatus":{"maximumAvailable":1000,"currentlyAvailable":0,"restoreRate":0.5}}}}`, clock)
	slow.Do(context.Background(), "{ x }", "", nil)
	if _, err := slow.Do(context.Background(), "{ x }", "", nil); !errors.Is(err, gqlapi.ErrCostWaitTooLong) {
		t.Errorf("a 200 s refill under a 1 min max_wait: err = %v", err)
	}
}
