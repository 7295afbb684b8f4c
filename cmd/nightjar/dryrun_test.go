package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDryRunListsStatementsAndRequests: run --dry-run shows, for a table
// target, the statements with the row count, and for the webhook and CRM
// targets the requests with the first body, their tokens masked; the
// servers receive nothing and no database file is created.
func TestDryRunListsStatementsAndRequests(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	defer srv.Close()
	const hookToken, hubToken = "hook-t0ken-5ecret", "pat-na1-dry-5ecret"
	t.Setenv("DRY_HOOK_TOKEN", hookToken)
	t.Setenv("DRY_HUB_TOKEN", hubToken)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in", "leads.csv"),
		"id,email,name\n1,ann@example.com,Ann\n2,bo@example.com,"+hookToken+"\n3,cy@example.com,Cy\n")
	old := time.Now().Add(-time.Hour) // settled: no wait
	os.Chtimes(filepath.Join(dir, "in", "leads.csv"), old, old)
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, `connections:
  wh: { type: sqlite, path: out/wh.db }
  hub: { type: hubspot, base_url: "`+srv.URL+`", token: "${DRY_HUB_TOKEN}" }
jobs:
  leads:
    source: { type: files, path: in/*.csv, csv: { header: true } }
    targets:
      - { type: table, connection: wh, table: leads, mode: append }
      - { type: webhook, url: "`+srv.URL+`/hooks/s3cr3t-path", token: "${DRY_HOOK_TOKEN}" }
      - { type: crm, connection: hub, object: contacts, map: { email: email, firstname: name } }
`)
	code, out, errOut := nightjar(t, "run", "-c", cfg, "leads", "--dry-run")
	t.Logf("output:\n%s", out)
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"  targets[0] table wh: 3 row(s)\n" +
			`    CREATE TABLE IF NOT EXISTS "_nightjar_batches" (…), the replay markers` + "\n",
		`    CREATE TABLE "leads" ("id" TEXT, "email" TEXT, "name" TEXT)` + "\n" +
			`    INSERT INTO "leads" ("id", "email", "name") VALUES (…): 3 row(s)` + "\n",
		"    POST " + srv.URL + "[redacted]: 1 request(s) for 3 record(s)\n" +
			`    first body (`,
		`{"id":"2","email":"bo@example.com","name":"[redacted]"}`,
		"    POST /crm/v3/objects/contacts/batch/upsert: 1 request(s) for 3 record(s)\n",
		// The CRM target does not know the hook's token; the CLI masks
		// every secret of the config.
		`"properties":{"email":"bo@example.com","firstname":"***"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	for _, secret := range []string{hookToken, hubToken, "s3cr3t-path"} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("the output shows %q", secret)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the dry run sent %d request(s)", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Errorf("a dry run created %s/out", dir)
	}
}
