package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/webhook"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// TestRedirectElsewhereKeepsTheCredentials: a receiver redirecting (307,
// body and all) to another port gets the batch refused by default, and
// delivered without the token and headers under cross_origin: strip.
func TestRedirectElsewhereKeepsTheCredentials(t *testing.T) {
	t.Parallel()
	var stolen, hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "" || r.Header.Get("X-Hook-Key") != "" {
			stolen.Add(1)
		}
	}))
	defer other.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/collect", http.StatusTemporaryRedirect)
	}))
	defer hook.Close()
	for _, policy := range []string{"", httpapi.CrossOriginStrip} {
		cfg := webhook.Config{URL: hook.URL + "/hook", BatchSize: 10}
		cfg.Token, cfg.Headers, cfg.CrossOrigin = "hook-secret-123", map[string]string{"X-Hook-Key": "hdr-secret-456"}, policy
		tg, err := webhook.New(cfg, etl.BuildEnv{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tg.Open(context.Background(), etl.TargetEnv{Job: "j", Name: "hook"}); err != nil {
			t.Fatal(err)
		}
		before := hits.Load()
		err = tg.Write(context.Background(), etltest.StringBatch("leads.csv", 2, `"p1"`, []string{"email"}, []string{"a@example.com"}, []string{"b@example.com"}))
		if policy == "" {
			if !errors.Is(err, httpapi.ErrCrossOrigin) || !etl.IsPermanent(err) || hits.Load() != before ||
				!strings.Contains(err.Error(), strings.TrimPrefix(other.URL, "http://")) {
				t.Errorf("refuse: err = %v, %d requests elsewhere", err, hits.Load()-before)
			}
		} else if err != nil || hits.Load() != before+1 {
			t.Errorf("strip: err = %v, %d requests elsewhere", err, hits.Load()-before)
		}
	}
	if stolen.Load() != 0 {
		t.Errorf("the other host got the credentials %d times", stolen.Load())
	}
}
