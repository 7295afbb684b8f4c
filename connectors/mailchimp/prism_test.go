package mailchimp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/connectors/mailchimp"
	"github.com/nightjar-etl/nightjar/connectors/mailchimp/mailchimptest"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// patchMergeFields writes a copy of Mailchimp's description in which a
// merge field's value may be text or a number as well as an object: the
// description types every value as an object, where Mailchimp takes text
// and numbers (testdata/mailchimp/README.md), and Prism answers 422 to any
// violation, so the client could not go on. Only the value type of
// merge_fields changes; it returns the copy and how many schemas changed.
func patchMergeFields(t *testing.T, spec string) (string, int) {
	t.Helper()
	raw, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	patched := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if mf, ok := v["merge_fields"].(map[string]any); ok {
				if ap, ok := mf["additionalProperties"].(map[string]any); ok && ap["type"] == "object" {
					delete(ap, "type")
					ap["anyOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}, map[string]any{"type": "object"}}
					patched++
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "marketing-api.merge-fields.openapi.json")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, patched
}

// violations records the sl-violations Prism reports about each request
// (those about Prism's own response are not the client's).
type violations struct {
	mu       sync.Mutex
	list     []string
	requests map[string]int
	statuses map[int]int
}

func (v *violations) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	kind := req.Method + " member"
	switch {
	case strings.HasSuffix(req.URL.Path, "/tags"):
		kind = req.Method + " tags"
	case strings.HasSuffix(req.URL.Path, "/batches"):
		kind = req.Method + " batches"
	case strings.Contains(req.URL.Path, "/batches/"):
		kind = req.Method + " batch"
	}
	v.requests[kind]++
	v.statuses[resp.StatusCode]++
	var entries []struct {
		Location []string `json:"location"`
		Message  string   `json:"message"`
	}
	json.Unmarshal([]byte(resp.Header.Get("sl-violations")), &entries)
	for _, e := range entries {
		if len(e.Location) == 0 || e.Location[0] != "request" {
			continue
		}
		msg := strings.Join(e.Location, ".") + ": " + e.Message
		v.list = append(v.list, req.Method+" "+req.URL.Path+": "+msg)
	}
	if resp.StatusCode == http.StatusUnprocessableEntity && len(entries) == 0 {
		v.list = append(v.list, req.Method+" "+req.URL.Path+": 422 without sl-violations")
	}
	return resp, nil
}

// TestRequestsValidateAgainstMailchimpDescription: the audience target's
// requests for 300 members (merge fields, tags and a segment) break
// nothing in Mailchimp's own OpenAPI description (served by Prism) but
// the merge-field typing it gets wrong, after Prism was seen to refuse a
// request that does break it.
func TestRequestsValidateAgainstMailchimpDescription(t *testing.T) {
	t.Parallel()
	spec, patched := patchMergeFields(t, httpapitest.SharedTestdata(t, "mailchimp/marketing-api.openapi.json", "Mailchimp's description"))
	if patched == 0 {
		t.Fatal("no merge_fields schema typed as objects in the description: the patch is stale")
	}
	t.Logf("merge_fields value type widened in %d schemas", patched)
	base := httpapitest.StartPrism(t, spec, 120*time.Second)
	rec := &violations{requests: map[string]int{}, statuses: map[int]int{}}
	hc := &http.Client{Transport: rec, Timeout: 30 * time.Second}
	ctx := context.Background()

	bad, err := httpapi.New(httpapi.Options{BaseURL: base, Auth: httpapi.BasicAuth{Username: "x", Password: testKey}, HTTPClient: hc, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	member := "/lists/" + testList + "/members/" + mailchimp.Hash("a@example.com")
	for _, wrong := range []struct{ method, path, body, want string }{
		{http.MethodPut, member, `{"email_address":"a@example.com","status_if_new":"resubscribed"}`, "request.body.status_if_new"},
		// The patched copy still refuses a merge field that is neither
		// text, a number nor an object.
		{http.MethodPut, member, `{"email_address":"a@example.com","status_if_new":"subscribed","merge_fields":{"VIP":true}}`, "request.body.merge_fields.VIP"},
		{http.MethodPost, member + "/tags", `{"tags":["vip"]}`, "request.body.tags.0"},
	} {
		_, err = bad.Do(ctx, httpapi.Request{Method: wrong.method, Path: wrong.path, Body: []byte(wrong.body)})
		if err == nil || !strings.Contains(err.Error(), "HTTP 422") || len(rec.list) == 0 {
			t.Fatalf("%s: err = %v, violations %q; want a 422 about %s", wrong.body, err, rec.list, wrong.want)
		}
		for _, v := range rec.list {
			if !strings.Contains(v, wrong.want) {
				t.Fatalf("%s: violation %q, want one about %s", wrong.body, v, wrong.want)
			}
		}
		rec.list = nil
	}
	rec.list, rec.requests, rec.statuses = nil, map[string]int{}, map[int]int{}

	c := mailchimp.DefaultConnConfig()
	c.Key, c.BaseURL = testKey, base
	if err := mailchimp.ValidateConnection(c, ""); err != nil {
		t.Fatal(err)
	}
	conn := &etl.Connection{Name: "mailchimp", Type: "mailchimp", Config: c}
	tg, err := mailchimp.New(mailchimp.TargetConfig{List: testList, Email: "email", StatusIfNew: "pending",
		Map: map[string]string{"FNAME": "first_name", "SCORE": "score", "language": "language"}, Tags: "interests", Segment: "qualified-lead"},
		etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	tg.SetHTTPClient(hc)
	if err := tg.Open(ctx, etl.TargetEnv{Job: "leads", Name: "leads[0] audience", Fingerprints: newMemStore(), FullPass: func() bool { return true }}); err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for i := range 300 {
		rows = append(rows, []string{fmt.Sprintf("Lead%d@Example.com", i), fmt.Sprintf("Zoë \"%d\" O'Brien", i), fmt.Sprint(i % 100), "en", "bikes, tents"})
	}
	syncLeads(t, tg, rows, rec)
	t.Logf("requests validated: %v, answers %v", rec.requests, rec.statuses)
	if rec.requests["PUT member"] != 300 || rec.requests["POST tags"] != 300 || rec.statuses[422] != 0 {
		t.Errorf("requests %v, answers %v: want 300 PUTs, 300 tag POSTs, no 422", rec.requests, rec.statuses)
	}
	t.Run("batches", func(t *testing.T) { batchesAgainstPrism(t, base, rows) })
}

// syncLeads writes rows (email, first_name, score, language, interests)
// as one batch and commits; a row refused or a request Prism found wrong
// fails the test.
func syncLeads(t *testing.T, tg *mailchimp.Audience, rows [][]string, rec *violations) {
	t.Helper()
	ctx := context.Background()
	b := etltest.StringBatch("leads.csv", 2, `{}`, []string{"email", "first_name", "score", "language", "interests"}, rows...)
	if err := tg.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if rejects := tg.TakeRejects(); len(rejects) > 0 {
		t.Errorf("rejects: %+v", rejects)
	}
	if err := tg.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rec.list) != 0 {
		t.Errorf("Prism found %d violations:\n%s", len(rec.list), strings.Join(rec.list, "\n"))
	}
}

// mirror sends every /batches request to the fake API, whose answers the
// target gets, and a copy to Prism; it keeps the body of each POST
// /batches, so that the test then sends each operation a batch carried to
// Prism on its own too (after the run: Prism is slow, and the target's
// requests must not time out waiting for it): the member PUTs and tag
// POSTs a batch carries are validated like those sent one by one.
type mirror struct {
	api     string // the fake's host
	prism   string
	rec     *violations
	mu      sync.Mutex
	batches [][]byte
}

// copyTo sends a copy of a request to Prism, recording its violations.
func (m *mirror) copyTo(ctx context.Context, method, path string, header http.Header, body []byte) error {
	pr, err := http.NewRequestWithContext(ctx, method, m.prism+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	pr.Header = header.Clone()
	resp, err := m.rec.RoundTrip(pr)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

func (m *mirror) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != m.api || !strings.HasPrefix(req.URL.Path, "/3.0/batches") {
		return http.DefaultTransport.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	if err := m.copyTo(req.Context(), req.Method, strings.TrimPrefix(req.URL.Path, "/3.0"), req.Header, body); err != nil {
		return nil, err
	}
	if req.Method == http.MethodPost {
		m.mu.Lock()
		m.batches = append(m.batches, body)
		m.mu.Unlock()
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return http.DefaultTransport.RoundTrip(req)
}

// operations sends a copy of every operation the batches carried to
// Prism; it returns how many.
func (m *mirror) operations(t *testing.T, header http.Header) int {
	n := 0
	for _, body := range m.batches {
		var in struct {
			Operations []struct{ Method, Path, Body string }
		}
		if err := json.Unmarshal(body, &in); err != nil {
			t.Fatal(err)
		}
		for _, op := range in.Operations {
			if err := m.copyTo(context.Background(), op.Method, op.Path, header, []byte(op.Body)); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	return n
}

// batchesAgainstPrism: Prism refuses a batch that breaks the description,
// then the same 300 members go through /batches (to the fake, which runs
// them, with a 429 on the first look at each batch): the POST /batches,
// every GET /batches/{id} and every operation the batches carry break
// nothing in the description.
func batchesAgainstPrism(t *testing.T, prism string, rows [][]string) {
	ctx := context.Background()
	rec := &violations{requests: map[string]int{}, statuses: map[int]int{}}
	bad, err := httpapi.New(httpapi.Options{BaseURL: prism, Auth: httpapi.BasicAuth{Username: "x", Password: testKey},
		HTTPClient: &http.Client{Transport: rec, Timeout: 30 * time.Second}, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: "/batches", Body: []byte(`{"operations":[{"method":"FETCH","path":"/lists"}]}`)})
	if err == nil || !strings.Contains(err.Error(), "HTTP 422") || len(rec.list) != 1 || !strings.Contains(rec.list[0], "request.body.operations.0.method") {
		t.Fatalf("a batch with method FETCH: err = %v, violations %q; want a 422 about request.body.operations.0.method", err, rec.list)
	}
	rec.list, rec.requests, rec.statuses = nil, map[string]int{}, map[int]int{}

	srv := mailchimptest.Start(testKey, testList)
	defer srv.Close()
	srv.SetBatchThrottle(1)
	u, _ := url.Parse(srv.URL)
	m := &mirror{api: u.Host, prism: prism, rec: rec}
	hc := &http.Client{Transport: m, Timeout: 2 * time.Minute}
	tg, err := mailchimp.New(mailchimp.TargetConfig{List: testList, Email: "email", StatusIfNew: "pending",
		Map: map[string]string{"FNAME": "first_name", "SCORE": "score", "language": "language"}, Tags: "interests", Segment: "qualified-lead",
		BatchOperationsOver: 100}, etl.BuildEnv{Connection: connection(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	tg.SetHTTPClient(hc)
	if err := tg.Open(ctx, etl.TargetEnv{Job: "leads", Name: "leads[0] audience", Fingerprints: newMemStore(), Clock: etltest.NewClock(t0),
		FullPass: func() bool { return true }}); err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	syncLeads(t, tg, rows, rec)
	auth := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+testKey))}, "Content-Type": {"application/json"}}
	ops := m.operations(t, auth)
	if len(rec.list) != 0 {
		t.Errorf("Prism found %d violations in the operations:\n%s", len(rec.list), strings.Join(rec.list, "\n"))
	}
	st := tg.Stats()
	t.Logf("validated: %v (answers %v); %d operations; fake: %v", rec.requests, rec.statuses, ops, srv.Requests())
	if rec.requests["POST batches"] != 2 || rec.requests["GET batch"] < 6 || ops != 600 || rec.statuses[422] != 0 || st.Batches != 2 || st.Sent != 300 || st.Tagged != 300 {
		t.Errorf("validated %v (answers %v), %d operations, stats %+v: want 2 batches of 300 operations, looked at 3 times each at least, no 422", rec.requests, rec.statuses, ops, st)
	}
	if r := srv.Requests(); r["GET batch 429"] != 2 {
		t.Errorf("fake: %v, want a 429 on the first look at each batch", r)
	}
	if m, _ := srv.Member(testList, "lead7@example.com"); m.Status != "pending" || !m.Tags["qualified-lead"] || !m.Tags["tents"] {
		t.Errorf("member after the batches: %+v", m)
	}
	if bad := srv.Bad(); len(bad) > 0 {
		t.Errorf("malformed requests: %q", bad)
	}
}
