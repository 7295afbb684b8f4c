package webhook_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/connectors/webhook"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// TestDryRunSendsNothing: a dry run tells the POSTs a batch would take
// and the first one's body, sends no request, and masks the token (here
// echoed in a row) and the hook URL's path, which may be the secret.
func TestDryRunSendsNothing(t *testing.T) {
	t.Parallel()
	srv, requests := httpapitest.CountingServer(t)
	cfg := webhook.Config{URL: srv.URL + "/hooks/s3cr3t-path-77", BatchSize: 2}
	cfg.Token = "hook-secret-123"
	tg, err := webhook.New(cfg, etl.BuildEnv{})
	if err != nil {
		t.Fatal(err)
	}
	b := etltest.StringBatch("leads.csv", 2, `"p1"`, []string{"email", "note"},
		[]string{"a@example.com", "hook-secret-123"}, []string{"b@example.com", "hi"}, []string{"c@example.com", "yo"})
	lines, err := tg.DryRun(context.Background(), etl.TargetEnv{Job: "leads", Name: "targets[0] webhook"}, b)
	if err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the dry run sent %d request(s)", n)
	}
	httpapitest.CheckDryRunLines(t, lines, []string{"hook-secret-123", "s3cr3t"},
		"POST "+srv.URL+"[redacted]: 2 request(s) for 3 record(s)",
		`{"records":[{"email":"a@example.com","note":"[redacted]"},{"email":"b@example.com","note":"hi"}]}`)
	if strings.Contains(lines[1], "c@example.com") {
		t.Errorf("the first body holds the second request's record: %q", lines[1])
	}

	// A large body is cut at MaxDryRunBody, the cut marked.
	big := etltest.StringBatch("leads.csv", 2, `"p2"`, []string{"email", "note"},
		[]string{"a@example.com", strings.Repeat("x", 10_000)})
	lines, err = tg.DryRun(context.Background(), etl.TargetEnv{Job: "leads", Name: "targets[0] webhook"}, big)
	if err != nil {
		t.Fatal(err)
	}
	if body := lines[len(lines)-1]; len(body) > httpapi.MaxDryRunBody+40 || !strings.HasSuffix(body, "…") ||
		!strings.HasPrefix(body, "first body (10049 bytes): ") {
		t.Errorf("long body line (%d bytes) = %.80q…", len(body), body)
	}
}
