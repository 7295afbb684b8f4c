package salesforce_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/connectors/salesforce"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

const token = "00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog"

// org emulates sObject Collections upsert: bearer auth, at most 200
// records, one result per record in order, REQUIRED_FIELD_MISSING for a
// Lead without LastName, 403 REQUEST_LIMIT_EXCEEDED for the first
// throttled requests, "TotalRequests Limit exceeded" when daily is set.
type org struct {
	*httptest.Server
	mu        sync.Mutex
	leads     map[string]map[string]any
	requests  int
	sizes     []int
	throttled int
	daily     bool
	short     bool // answer one result too few
	garbled   bool // answer an object instead of the list of results

	bulk bulkState // Bulk API 2.0 jobs: see bulk_test.go
}

func newOrg(t *testing.T) *org {
	o := &org{leads: map[string]map[string]any{}}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

func sfError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode([]map[string]any{{"errorCode": code, "message": msg}})
}

func (o *org) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests++
	if r.Header.Get("Authorization") != "Bearer "+token {
		sfError(w, 401, "INVALID_SESSION_ID", "Session expired or invalid: "+r.Header.Get("Authorization"))
		return
	}
	if o.daily {
		sfError(w, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
		return
	}
	if o.throttled > 0 {
		o.throttled--
		sfError(w, 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
		return
	}
	if strings.HasPrefix(r.URL.Path, "/services/data/v62.0/jobs/ingest") {
		o.serveBulk(w, r)
		return
	}
	if r.Method != http.MethodPatch || r.URL.Path != "/services/data/v62.0/composite/sobjects/Lead/Lead_Ext_Id__c" {
		sfError(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	var body struct {
		AllOrNone *bool            `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.AllOrNone == nil || *body.AllOrNone {
		sfError(w, 400, "JSON_PARSER_ERROR", fmt.Sprintf("bad body (allOrNone must be false): %v", err))
		return
	}
	o.sizes = append(o.sizes, len(body.Records))
	if len(body.Records) > 200 {
		sfError(w, 400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
		return
	}
	var results []map[string]any
	for _, rec := range body.Records {
		if attrs, _ := rec["attributes"].(map[string]any); attrs["type"] != "Lead" {
			results = append(results, map[string]any{"success": false, "errors": []any{map[string]any{"statusCode": "INVALID_TYPE", "message": "no type"}}})
			continue
		}
		if _, ok := rec["LastName"]; !ok {
			results = append(results, map[string]any{"success": false, "errors": []any{map[string]any{
				"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]", "fields": []string{"LastName"}}}})
			continue
		}
		id := fmt.Sprint(rec["Lead_Ext_Id__c"])
		_, existed := o.leads[id]
		o.leads[id] = rec
		results = append(results, map[string]any{"id": "00Q" + id, "success": true, "created": !existed, "errors": []any{}})
	}
	if o.short {
		results = results[:len(results)-1]
	}
	w.Header().Set("Content-Type", "application/json")
	if o.garbled {
		w.Write([]byte(`{"hasErrors":true,"results":"elsewhere"}`))
		return
	}
	json.NewEncoder(w).Encode(results)
}

func leads(n int) *etl.Batch {
	b := etl.NewBatch(etl.MustSchema(
		etl.Field{Name: "lead_id", Type: etl.TypeString}, etl.Field{Name: "last_name", Type: etl.TypeString},
		etl.Field{Name: "score", Type: etl.TypeInt}, etl.Field{Name: "hot", Type: etl.TypeBool}), n)
	for i := range n {
		b.Cols[0].AppendString(fmt.Sprintf("L-%d", i))
		if i%50 == 7 {
			b.Cols[1].AppendNull()
		} else {
			b.Cols[1].AppendString(fmt.Sprintf("Lovelace %d", i))
		}
		b.Cols[2].AppendInt(int64(i))
		b.Cols[3].AppendBool(i%2 == 0)
		b.Origins = append(b.Origins, etl.Origin{File: "leads.csv", Line: int64(i + 2)})
	}
	return b
}

type fingerprints struct{ m map[string]string }

func (f *fingerprints) Fingerprints(_ context.Context, _ string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, id := range ids {
		if d, ok := f.m[id]; ok {
			out[id] = d
		}
	}
	return out, nil
}

func (f *fingerprints) SaveFingerprints(_ context.Context, _ string, d map[string]string, _ time.Time) error {
	for k, v := range d {
		f.m[k] = v
	}
	return nil
}

func open(t *testing.T, o *org, logs *httpapitest.LogBuffer) (*salesforce.Target, *etltest.Clock) {
	t.Helper()
	cfg := salesforce.DefaultConnConfig()
	cfg.InstanceURL, cfg.Token = o.URL, token
	if err := salesforce.ValidateConnection(cfg, ""); err != nil {
		t.Fatal(err)
	}
	tg, err := salesforce.New(salesforce.TargetConfig{Object: "Lead", ExternalID: "Lead_Ext_Id__c",
		Map: map[string]string{"Lead_Ext_Id__c": "lead_id", "LastName": "last_name", "Score__c": "score", "Hot__c": "hot"}},
		etl.BuildEnv{Connection: &etl.Connection{Name: "sfdc", Type: "salesforce", Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	clock := etltest.NewClock(time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC))
	if err := tg.Open(context.Background(), etl.TargetEnv{Name: "targets[1] crm Lead", Clock: clock, Logger: logs.Logger(),
		Fingerprints: &fingerprints{m: map[string]string{}}}); err != nil {
		t.Fatal(err)
	}
	return tg, clock
}

func TestCollectionsUpsert(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	o.throttled = 2
	logs := &httpapitest.LogBuffer{}
	tg, clock := open(t, o, logs)
	ctx := context.Background()
	if err := tg.Write(ctx, leads(450)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{200, 200, 50}, o.sizes); diff != "" {
		t.Errorf("records per request (-want +got):\n%s", diff)
	}
	if clock.Slept() == 0 {
		t.Error("403 REQUEST_LIMIT_EXCEEDED was not waited for")
	}
	rejects := tg.TakeRejects()
	if len(rejects) != 9 {
		t.Fatalf("%d rejects, want the 9 leads without a last name", len(rejects))
	}
	if r := rejects[0]; r.Origin.Line != 9 || r.Value != "L-7" || r.Reason != "Salesforce: REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (LastName)" {
		t.Errorf("reject = %+v", r)
	}
	if got := o.leads["L-10"]; got["Score__c"] != float64(10) || got["Hot__c"] != true || got["LastName"] != "Lovelace 10" {
		t.Errorf("L-10 = %v, want typed values", got)
	}
	if s := tg.Stats(); s.Sent != 441 || s.Rejected != 9 {
		t.Errorf("stats %+v", s)
	}
	// Again: only the refused records go again (and fail again).
	requests := o.requests
	if err := tg.Write(ctx, leads(450)); err != nil {
		t.Fatal(err)
	}
	if o.requests != requests+1 || o.sizes[len(o.sizes)-1] != 9 {
		t.Errorf("second write: %d requests, last of %d records; want one request of 9", o.requests-requests, o.sizes[len(o.sizes)-1])
	}
	if strings.Contains(logs.String(), token) {
		t.Error("token in logs")
	}
}

func TestMissingResultsAreRejected(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	o.short = true
	tg, _ := open(t, o, &httpapitest.LogBuffer{})
	if err := tg.Write(context.Background(), leads(5)); err != nil {
		t.Fatal(err)
	}
	r := tg.TakeRejects()
	if len(r) != 1 || r[0].Value != "L-4" || !strings.Contains(r[0].Reason, "4 results for 5 records") {
		t.Errorf("rejects = %+v", r)
	}
}

func TestDailyAllocationStopsTheRun(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	o.daily = true
	tg, _ := open(t, o, &httpapitest.LogBuffer{})
	err := tg.Write(context.Background(), leads(5))
	if !errors.Is(err, httpapi.ErrDailyLimit) || o.requests != 1 {
		t.Errorf("err = %v after %d requests, want ErrDailyLimit at once", err, o.requests)
	}
}

func TestWrongTokenErrorHidesIt(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	cfg := salesforce.DefaultConnConfig()
	cfg.InstanceURL, cfg.Token = o.URL, token+"x"
	tg, err := salesforce.New(salesforce.TargetConfig{Object: "Lead", ExternalID: "Lead_Ext_Id__c", Map: map[string]string{"LastName": "last_name"}, IDField: "lead_id"},
		etl.BuildEnv{Connection: &etl.Connection{Name: "sfdc", Type: "salesforce", Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Open(context.Background(), etl.TargetEnv{}); err != nil {
		t.Fatal(err)
	}
	err = tg.Write(context.Background(), leads(2))
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), token) {
		t.Errorf("err = %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	conn := &etl.Connection{Name: "sfdc", Type: "salesforce", Config: salesforce.DefaultConnConfig()}
	for _, tc := range []struct {
		cfg  salesforce.TargetConfig
		path string
	}{
		{salesforce.TargetConfig{Object: "Lead; DROP", ExternalID: "X__c", Map: map[string]string{"A": "a"}}, "object"},
		{salesforce.TargetConfig{Object: "Lead", ExternalID: "X__c", Map: map[string]string{"A": "a"}, BatchSize: 201}, "batch_size"},
		{salesforce.TargetConfig{Object: "Lead", ExternalID: "X__c"}, "map"},
	} {
		_, err := salesforce.New(tc.cfg, etl.BuildEnv{Connection: conn})
		var fe *etl.FieldError
		if !errors.As(err, &fe) || fe.Path[0] != tc.path {
			t.Errorf("%+v: err = %v, want a FieldError on %s", tc.cfg, err, tc.path)
		}
	}
	if err := salesforce.ValidateConnection(&salesforce.ConnConfig{APIVersion: "v62.0"}, ""); err == nil {
		t.Error("a connection without instance_url validated")
	}
}

// TestGarbledAnswerNamesTheProblem: an answer that is not the list of
// results fails naming the problem in JSON terms, never a Go type.
func TestGarbledAnswerNamesTheProblem(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	o.garbled = true
	tg, _ := open(t, o, &httpapitest.LogBuffer{})
	err := tg.Write(context.Background(), leads(3))
	if err == nil || strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "salesforce.result") ||
		!strings.Contains(err.Error(), "is a JSON object where an array belongs") || !strings.Contains(err.Error(), "hasErrors") {
		t.Errorf("err = %v", err)
	}
}
