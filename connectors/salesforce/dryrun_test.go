package salesforce_test

import (
	"context"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/connectors/salesforce"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestDryRunSendsNothing: a dry run tells the collection upserts (or,
// from bulk_threshold records on, the Bulk API uploads) a batch would
// take with the first one's body, the token masked; it sends no request
// and saves no fingerprint.
func TestDryRunSendsNothing(t *testing.T) {
	t.Parallel()
	srv, requests := httpapitest.CountingServer(t)
	cfg := salesforce.DefaultConnConfig()
	cfg.InstanceURL, cfg.Token = srv.URL, token
	target := func(threshold int) *salesforce.Target {
		tg, err := salesforce.New(salesforce.TargetConfig{Object: "Lead", ExternalID: "Lead_Ext_Id__c", BulkThreshold: threshold,
			Map: map[string]string{"Lead_Ext_Id__c": "lead_id", "LastName": "last_name", "Score__c": "score"}},
			etl.BuildEnv{Connection: &etl.Connection{Name: "sfdc", Type: "salesforce", Config: cfg}})
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	fp := &fingerprints{m: map[string]string{}}
	env := etl.TargetEnv{Job: "leads", Name: "targets[1] crm Lead", Fingerprints: fp}
	b := leads(450)
	b.Cols[1].Str[0] = "Lovelace " + token

	lines, err := target(-1).DryRun(context.Background(), env, b)
	if err != nil {
		t.Fatal(err)
	}
	httpapitest.CheckDryRunLines(t, lines, []string{token},
		"PATCH /services/data/v62.0/composite/sobjects/Lead/Lead_Ext_Id__c: 3 request(s) for 450 record(s)",
		`{"allOrNone":false,"records":[{"attributes":{"type":"Lead"},"LastName":"Lovelace [redacted]","Lead_Ext_Id__c":"L-0","Score__c":0},`)

	lines, err = target(100).DryRun(context.Background(), env, b)
	if err != nil {
		t.Fatal(err)
	}
	httpapitest.CheckDryRunLines(t, lines, []string{token},
		"PUT /services/data/v62.0/jobs/ingest/{job}/batches: 1 request(s) for 450 record(s)",
		`LastName,Lead_Ext_Id__c,Score__c\nLovelace [redacted],L-0,0\nLovelace 1,L-1,1\n`)
	if n := requests.Load(); n != 0 {
		t.Errorf("the dry run sent %d request(s)", n)
	}
	if len(fp.m) != 0 {
		t.Errorf("the dry run saved %d fingerprint(s)", len(fp.m))
	}
}
