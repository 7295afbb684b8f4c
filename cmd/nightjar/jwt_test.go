package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/authtest"
)

// TestJWTBearerGrantFromConfig: a webhook target with oauth2.jwt, the
// private key a ${VAR} secret, gets a token from an authorization server
// that verifies the signed assertion, and delivers the rows with it; a
// broken key is refused at validate time naming the key's path. Neither
// the output nor the run history holds any line of the key.
func TestJWTBearerGrantFromConfig(t *testing.T) {
	as := authtest.NewJWTServer(t, "consumer-key-9", "etl@example.com", 3600)
	var delivered, refused atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if !as.Valid(r.Header.Get("Authorization")) {
			refused.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		delivered.Add(1)
	}))
	defer hook.Close()
	key := as.PEM()
	t.Setenv("NJ_TEST_JWT_KEY", key)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in", "leads.csv"), "id,email\n1,ann@example.com\n2,bo@example.com\n")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, "in", "leads.csv"), old, old)
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, `jobs:
  leads:
    source: { type: files, path: in/*.csv, csv: { header: true } }
    targets:
      - type: webhook
        url: "`+hook.URL+`/leads"
        oauth2:
          token_url: "`+as.TokenURL()+`"
          client_id: consumer-key-9
          jwt: { subject: etl@example.com, private_key: "${NJ_TEST_JWT_KEY}", expires: 3m }
`)
	code, out, errOut := nightjar(t, "run", "-c", cfg, "leads")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s (refused assertions: %v)", code, out, errOut, as.Refused())
	}
	if delivered.Load() == 0 || refused.Load() != 0 || as.Issued() != 1 {
		t.Fatalf("delivered %d, refused %d, tokens %d", delivered.Load(), refused.Load(), as.Issued())
	}
	_, hist, _ := nightjar(t, "history", "-c", cfg, "--json")
	printed := out + errOut + hist

	// A key that is not one: validate names the path, not the key.
	t.Setenv("NJ_TEST_JWT_KEY", strings.Replace(key, "MII", "MIX", 1))
	code, vout, verr := nightjar(t, "validate", "-c", cfg)
	if code != 2 || !strings.Contains(vout+verr, "jwt.private_key") {
		t.Fatalf("validate with a broken key: exit %d\n%s%s", code, vout, verr)
	}
	printed += vout + verr
	for _, line := range strings.Split(key, "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(printed, line) {
			t.Fatalf("the output shows a line of the key (%q):\n%s", line, printed)
		}
	}
}
