package hubspot_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/hubspot"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// prismInstall is how .ci/run installs Prism.
const prismInstall = "npm install --prefix /tmp/prism @stoplight/prism-cli@5.16.0"

// prismBinary finds Prism: $NIGHTJAR_PRISM, else /tmp/prism. The test is
// skipped only when node or npm is missing.
func prismBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NIGHTJAR_PRISM"); p != "" {
		return p
	}
	_, errNode := exec.LookPath("node")
	_, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("skipping the Prism validation: node and npm are needed (" + prismInstall + ")")
	}
	p := "/tmp/prism/node_modules/.bin/prism"
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Prism is not installed at %s: run %s (or set NIGHTJAR_PRISM)", p, prismInstall)
	}
	return p
}

// startPrism serves the OpenAPI file on a free loopback port and returns
// its base URL once it answers; it is stopped when the test ends.
func startPrism(t *testing.T) string {
	t.Helper()
	bin := prismBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	spec, err := filepath.Abs("testdata/crm-batch-upsert.openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "prism.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "mock", "-h", "127.0.0.1", "-p", fmt.Sprint(port), spec)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prism: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			return base
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("prism did not start in 60s:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
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
