package hubspot_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/hubspot"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/etl"
)

// startPrism serves the HubSpot description; it is stopped when the test
// ends.
func startPrism(t *testing.T) string {
	return httpapitest.StartPrism(t, "testdata/crm-batch-upsert.openapi.json", 60*time.Second)
}

// recorder keeps every response's status and Prism's sl-violations header.
type recorder struct {
	mu         sync.Mutex
	statuses   []int
	violations []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.statuses = append(r.statuses, resp.StatusCode)
		if v := resp.Header.Get("sl-violations"); v != "" {
			r.violations = append(r.violations, v)
		}
		r.mu.Unlock()
	}
	return resp, err
}

func TestRequestsValidateAgainstOpenAPI(t *testing.T) {
	t.Parallel()
	base := startPrism(t)
	ctx := context.Background()
	rec := &recorder{}
	hc := &http.Client{Transport: rec, Timeout: 30 * time.Second}

	// The mock must refuse a bad request, or zero violations means nothing.
	bad, err := httpapi.New(httpapi.Options{BaseURL: base, Auth: httpapi.BearerToken(testToken), HTTPClient: hc, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Do(ctx, httpapi.Request{Method: "POST", Path: "/crm/v3/objects/contacts/batch/upsert",
		Body: []byte(`{"inputs":[{"id":"a@example.com","idProperty":"email","properties":{"lead_score":87}}]}`)})
	if err == nil || len(rec.violations) != 1 {
		t.Fatalf("a number as a property value: err = %v, violations %q; want a 422", err, rec.violations)
	}
	rec.violations, rec.statuses = nil, nil

	conn := connection(base)
	write := func(cfg hubspot.TargetConfig, b *etl.Batch) {
		t.Helper()
		tg, err := hubspot.New(cfg, etl.BuildEnv{Connection: conn})
		if err != nil {
			t.Fatal(err)
		}
		tg.HTTPClient = hc
		if err := tg.Open(ctx, etl.TargetEnv{Name: "crm " + cfg.Object, Fingerprints: &memFingerprints{}}); err != nil {
			t.Fatal(err)
		}
		if err := tg.Write(ctx, b); err != nil {
			t.Fatalf("%s: %v", cfg.Object, err)
		}
		if s := tg.Stats(); s.Rejected != 0 {
			t.Errorf("%s: %+v", cfg.Object, s)
		}
	}
	// Contacts, with a null and characters that need escaping.
	leads := leadBatch(250, `"p"`)
	leads.Cols[1].Null[3] = true
	leads.Cols[1].Str[4] = "Zoë \"Zee\" <O'Brien>\n\\ \u2028"
	write(contactsCfg, leads)

	companies := etl.NewBatch(etl.MustSchema(etl.Field{Name: "domain", Type: etl.TypeString}, etl.Field{Name: "name", Type: etl.TypeString},
		etl.Field{Name: "employees", Type: etl.TypeInt}), 120)
	for i := range 120 {
		companies.Cols[0].AppendString(fmt.Sprintf("firm%d.example", i))
		companies.Cols[1].AppendString(fmt.Sprintf("Firm %d GmbH", i))
		companies.Cols[2].AppendInt(int64(10 * i))
		companies.Origins = append(companies.Origins, etl.Origin{File: "companies.csv", Line: int64(i + 2)})
	}
	write(hubspot.TargetConfig{Object: "companies", Map: map[string]string{"domain": "domain", "name": "name", "numberofemployees": "employees"}}, companies)

	if len(rec.violations) != 0 {
		t.Errorf("Prism found violations:\n%s", strings.Join(rec.violations, "\n"))
	}
	want := []int{200, 200, 200, 200, 200}
	if fmt.Sprint(rec.statuses) != fmt.Sprint(want) {
		t.Errorf("statuses = %v, want %v (3 contact batches, 2 company batches)", rec.statuses, want)
	}
}
