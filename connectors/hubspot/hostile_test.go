package hubspot_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/hubspot"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// openOn opens a contacts target on a server of the test's own.
func openOn(t *testing.T, h http.HandlerFunc) (*hubspot.Target, *etltest.Clock) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tg, err := hubspot.New(contactsCfg, etl.BuildEnv{Connection: connection(srv.URL)})
	if err != nil {
		t.Fatal(err)
	}
	clock := etltest.NewClock(epoch)
	if err := tg.Open(context.Background(), etl.TargetEnv{Job: "leads", Name: "t", Clock: clock}); err != nil {
		t.Fatal(err)
	}
	return tg, clock
}

// TestMalformed207NamesTheProblem: a 207 whose body is not a batch answer
// fails naming what is wrong in JSON terms, never a Go type.
func TestMalformed207NamesTheProblem(t *testing.T) {
	t.Parallel()
	tg, _ := openOn(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMultiStatus)
		w.Write([]byte(`{"status":"COMPLETE","results":"see errors","errors":[]}`))
	})
	err := tg.Write(context.Background(), leadBatch(3, `"p1"`))
	if err == nil || strings.Contains(err.Error(), "struct") || strings.Contains(err.Error(), "Go ") ||
		!strings.Contains(err.Error(), `"results" is a JSON string where an array belongs`) || !strings.Contains(err.Error(), "see errors") {
		t.Errorf("err = %v, want the problem in JSON terms and the body", err)
	}
}

// TestRateLimitWindowBeyondMaxWaitFails: HubSpot's headers saying the
// window is spent for a day make the next request fail at once, saying
// what was asked, instead of waiting a day.
func TestRateLimitWindowBeyondMaxWaitFails(t *testing.T) {
	t.Parallel()
	tg, clock := openOn(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-HubSpot-RateLimit-Max", "100")
		w.Header().Set("X-HubSpot-RateLimit-Remaining", "0")
		w.Header().Set("X-HubSpot-RateLimit-Interval-Milliseconds", "86400000")
		w.Write([]byte(`{"status":"COMPLETE","results":[]}`))
	})
	if err := tg.Write(context.Background(), leadBatch(3, `"p1"`)); err != nil {
		t.Fatal(err)
	}
	err := tg.Write(context.Background(), leadBatch(3, `"p2"`))
	if !errors.Is(err, httpapi.ErrWaitTooLong) || !strings.Contains(err.Error(), "24h0m0s") {
		t.Errorf("err = %v, want ErrWaitTooLong naming the day-long window", err)
	}
	if clock.Slept() > 10e9 {
		t.Errorf("slept %v", clock.Slept())
	}
}
