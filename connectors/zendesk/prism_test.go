package zendesk_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/connectors/zendesk"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// zendeskSpec is Zendesk's OpenAPI description in ../shared beside the
// module ($NIGHTJAR_SHARED when it lies elsewhere, as from a git worktree).
var zendeskSpec = filepath.Join(cmp.Or(os.Getenv("NIGHTJAR_SHARED"), "../../../shared"), "testdata/zendesk/support-api.openapi.yaml")

// violations records what Prism says of each request: the validation
// array of a 422 and the sl-violations entries about the request (those
// about Prism's own response, such as its generated Location header, are
// not the client's).
type violations struct {
	mu       sync.Mutex
	list     []string
	requests map[string]int
}

func (v *violations) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.requests[req.Method+" "+req.URL.Path]++
	if resp.StatusCode == http.StatusUnprocessableEntity {
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		v.list = append(v.list, req.Method+" "+req.URL.Path+": "+string(body))
	}
	if h := resp.Header.Get("sl-violations"); h != "" {
		var entries []struct {
			Location []string `json:"location"`
			Message  string   `json:"message"`
		}
		json.Unmarshal([]byte(h), &entries)
		for _, e := range entries {
			if len(e.Location) > 0 && e.Location[0] != "response" {
				v.list = append(v.list, req.Method+" "+req.URL.Path+": "+e.Message)
			}
		}
	}
	return resp, nil
}

// TestRequestsValidateAgainstZendeskDescription: the tickets and users
// targets' requests for a few hundred records break nothing in Zendesk's
// own OpenAPI description (served by Prism), after Prism was seen to
// refuse a request that does break it.
func TestRequestsValidateAgainstZendeskDescription(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(zendeskSpec); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Zendesk's description is not at %s: set NIGHTJAR_SHARED to the shared folder", zendeskSpec)
		}
		t.Skipf("Zendesk's description is not at %s: set NIGHTJAR_SHARED to the shared folder (CI fails here instead)", zendeskSpec)
	}
	base := httpapitest.StartPrism(t, zendeskSpec, 120*time.Second)
	rec := &violations{requests: map[string]int{}}
	hc := &http.Client{Transport: rec, Timeout: 30 * time.Second}
	ctx := context.Background()

	bad, err := httpapi.New(httpapi.Options{BaseURL: base, Auth: httpapi.BasicAuth{Username: "a@example.com/token", Password: "x"}, HTTPClient: hc, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: "/api/v2/tickets",
		Body: []byte(`{"ticket":{"status":"escalated","tags":"vip","comment":{"body":"x"}}}`)})
	if err == nil || len(rec.list) != 1 || !strings.Contains(rec.list[0], "ticket.status") {
		t.Fatalf("a status outside the enum: err = %v, violations %q; want a 422", err, rec.list)
	}
	rec.list, rec.requests = nil, map[string]int{}

	srvConn := zendesk.DefaultConnConfig()
	srvConn.BaseURL, srvConn.Email, srvConn.APIToken = base, "agent@example.com", "zd-t0ken-5ecret"
	srvConn.RateLimit.Requests = 0
	if err := zendesk.ValidateConnection(srvConn, ""); err != nil {
		t.Fatal(err)
	}
	conn := &etl.Connection{Name: "zendesk", Type: "zendesk", Config: srvConn}
	write := func(cfg zendesk.TargetConfig, b *etl.Batch) etl.Target {
		t.Helper()
		tg, err := zendesk.New(cfg, etl.BuildEnv{Connection: conn})
		if err != nil {
			t.Fatal(err)
		}
		tg.(interface{ SetHTTPClient(*http.Client) }).SetHTTPClient(hc)
		if err := tg.Open(ctx, etl.TargetEnv{Job: "handoffs", Name: "t " + cfg.Object, Fingerprints: &memStore{m: map[string]map[string]string{}}}); err != nil {
			t.Fatal(err)
		}
		if err := tg.Write(ctx, b); err != nil {
			t.Fatalf("%s: %v", cfg.Object, err)
		}
		return tg
	}
	// 120 conversations of 3 messages: a ticket each, then two comments
	// (Prism's tickets all have its example's id; the requests are what
	// counts), with text that needs escaping.
	var msgs []msg
	for c := 0; c < 120; c++ {
		for m := 0; m < 3; m++ {
			msgs = append(msgs, msg{conv: fmt.Sprintf("conv-%03d", c), id: fmt.Sprint(m),
				text:   fmt.Sprintf("message %d of conv %d: Zoë \"Zee\" <O'Brien>\n\\ \u2028", m, c),
				status: []string{"new", "open", "pending"}[m], priority: "normal", tags: "bot handoff"})
		}
	}
	tickets := write(ticketsConfig(), batchOf(1, msgs))
	if s := tickets.(*zendesk.Tickets).Stats(); s.Created != 120 || s.Comments != 360 {
		t.Errorf("tickets: %+v", s)
	}
	// 250 users, by email, with a custom field and tags.
	var rows [][]string
	for i := 0; i < 250; i++ {
		rows = append(rows, []string{fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("User %d", i), "gold", "lead chatbot"})
	}
	users := etltest.StringBatch("users.csv", 2, `{}`, []string{"email", "name", "plan", "tags"}, rows...)
	write(zendesk.TargetConfig{Object: "users", Map: map[string]string{"email": "email", "name": "name", "user_fields.plan": "plan", "tags": "tags"}}, users)

	if len(rec.list) != 0 {
		t.Errorf("Prism found %d violations:\n%s", len(rec.list), strings.Join(rec.list, "\n"))
	}
	t.Logf("requests validated: %v", rec.requests)
	if rec.requests["POST /api/v2/tickets"] != 120 || rec.requests["POST /api/v2/users/create_or_update_many"] != 3 {
		t.Errorf("requests %v, want 120 creates and 3 user calls", rec.requests)
	}
}
