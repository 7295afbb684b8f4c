package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/webhook"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

func TestPostsBatchesWithStableIdempotencyKeys(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	keys := map[string]int{}
	var records []map[string]any
	fail := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer hook-secret-123" || r.Header.Get("X-Source") != "nightjar" {
			w.WriteHeader(401)
			return
		}
		if fail > 0 {
			fail--
			w.WriteHeader(503)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		keys[key]++
		if keys[key] > 1 {
			w.WriteHeader(200) // a receiver drops the duplicate
			return
		}
		var body struct {
			Records []map[string]any `json:"records"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		records = append(records, body.Records...)
	}))
	defer srv.Close()

	cfg := webhook.Config{URL: srv.URL + "/hook", BatchSize: 2}
	cfg.Token, cfg.Headers = "hook-secret-123", map[string]string{"x-source": "nightjar"}
	write := func(b *etl.Batch) {
		t.Helper()
		tg, err := webhook.New(cfg, etl.BuildEnv{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tg.Open(context.Background(), etl.TargetEnv{Job: "leads", Name: "targets[2] webhook", Clock: etltest.NewClock(time.Unix(0, 0))}); err != nil {
			t.Fatal(err)
		}
		if err := tg.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	b := etltest.StringBatch("leads.csv", 2, `"p1"`, []string{"email", "name"},
		[]string{"a@example.com", "Ada"}, []string{"b@example.com", "Bob"}, []string{"c@example.com", "Cy"})
	b.Seq = 1
	write(b)
	write(b) // a replay after a crash: same keys
	if len(keys) != 2 || len(records) != 3 {
		t.Fatalf("keys %v, %d records; want 2 keys (2 requests of ≤2), 3 records", keys, len(records))
	}
	for k, n := range keys {
		if n != 2 {
			t.Errorf("key %s seen %d times, want 2 (first send and replay)", k, n)
		}
	}
	if records[2]["email"] != "c@example.com" || records[0]["name"] != "Ada" {
		t.Errorf("records = %v", records)
	}
	b2 := etltest.StringBatch("leads.csv", 5, `"p2"`, []string{"email"}, []string{"d@example.com"})
	b2.Seq = 2
	if webhook.IdempotencyKey("leads", "t", b) == webhook.IdempotencyKey("leads", "t", b2) ||
		webhook.IdempotencyKey("leads", "t", b) == webhook.IdempotencyKey("other", "t", b) {
		t.Error("keys of different batches or jobs collide")
	}
}

func TestSecretURLAndTokenStayOutOfErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		w.Write([]byte("bad request for " + r.Header.Get("Authorization") + " at " + r.URL.String()))
	}))
	defer srv.Close()
	cfg := webhook.Config{URL: srv.URL + "/hooks/T000/B000/XXXXsecretpath?key=abcdef123"}
	cfg.Token = "tok-9876543"
	tg, err := webhook.New(cfg, etl.BuildEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Open(context.Background(), etl.TargetEnv{}); err != nil {
		t.Fatal(err)
	}
	err = tg.Write(context.Background(), etltest.StringBatch("f", 1, `"p"`, []string{"a"}, []string{"x"}))
	var se *httpapi.StatusError
	if !strings.Contains(err.Error(), "HTTP 400") || !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	for _, s := range []string{"tok-9876543", "abcdef123"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error holds %q: %v", s, err)
		}
	}
}
