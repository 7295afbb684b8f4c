package hubspot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/hubspot"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestDryRunSendsNothing: a dry run tells the batch upserts a batch would
// take, reading change detection to skip the unchanged records, with the
// first request's body, the token masked (here in a record); it sends no
// request and saves no fingerprint.
func TestDryRunSendsNothing(t *testing.T) {
	t.Parallel()
	h := setup(t, contactsCfg, nil)
	ctx := context.Background()
	if err := h.target.Write(ctx, leadBatch(100, `"p1"`)); err != nil {
		t.Fatal(err)
	}
	requests := func(e *emulator) int { return len(e.bodies) }
	sent, saved := h.em.count(requests), len(h.fp.m)

	tg, err := hubspot.New(contactsCfg, etl.BuildEnv{Connection: connection(h.em.URL)})
	if err != nil {
		t.Fatal(err)
	}
	b := leadBatch(250, `"p2"`)
	b.Cols[1].Str[100] = testToken // the first record sent
	lines, err := tg.DryRun(ctx, etl.TargetEnv{Job: "leads", Name: "targets[0] crm contacts", Fingerprints: h.fp}, b)
	if err != nil {
		t.Fatal(err)
	}
	if n := h.em.count(requests); n != sent {
		t.Errorf("the dry run sent %d request(s)", n-sent)
	}
	if len(h.fp.m) != saved {
		t.Errorf("the dry run saved %d fingerprint(s)", len(h.fp.m)-saved)
	}
	httpapitest.CheckDryRunLines(t, lines, []string{testToken},
		"POST /crm/v3/objects/contacts/batch/upsert: 2 request(s) for 150 record(s), 100 unchanged record(s) skipped",
		`{"inputs":[{"id":"lead100@example.com","idProperty":"email","objectWriteTraceId":"0","properties":{`,
		`"firstname":"[redacted]"`, `"id":"lead112@example.com"`)
	if strings.Contains(lines[1], "lead99@") || !strings.HasSuffix(lines[1], "…") {
		t.Errorf("the first body holds an unchanged record, or is not cut: %.200q", lines[1])
	}
}

// TestDryRunNoFingerprints: without change detection every record counts,
// and a server never sees a request.
func TestDryRunNoFingerprints(t *testing.T) {
	t.Parallel()
	srv, requests := httpapitest.CountingServer(t)
	tg, err := hubspot.New(contactsCfg, etl.BuildEnv{Connection: connection(srv.URL)})
	if err != nil {
		t.Fatal(err)
	}
	lines, err := tg.DryRun(context.Background(), etl.TargetEnv{Job: "leads", Name: "t"}, leadBatch(3, `"p1"`))
	if err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the dry run sent %d request(s)", n)
	}
	httpapitest.CheckDryRunLines(t, lines, []string{testToken},
		"POST /crm/v3/objects/contacts/batch/upsert: 1 request(s) for 3 record(s)", `"id":"lead2@example.com"`)
}
