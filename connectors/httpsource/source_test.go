package httpsource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/httpsource"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

const apiKey = "form-api-key-31337"

// formsAPI serves submissions sorted by updated_at, filtered by
// updated_since, paginated every way the source supports.
type formsAPI struct {
	*httptest.Server
	mu       sync.Mutex
	subs     []map[string]any
	queries  []string
	fail503  int
	throttle int
}

func newFormsAPI(t *testing.T, n int) *formsAPI {
	a := &formsAPI{}
	for i := range n {
		a.add(i)
	}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *formsAPI) add(i int) {
	a.subs = append(a.subs, map[string]any{"id": i, "email": fmt.Sprintf("lead%d@example.com", i),
		"updated_at": fmt.Sprintf("2026-11-%02dT10:00:00Z", 1+i), "score": 1.5 * float64(i), "answers": map[string]any{"q": "yes"}})
}

func (a *formsAPI) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Header.Get("X-API-Key") != apiKey {
		http.Error(w, `{"error":"bad key"}`, http.StatusUnauthorized)
		return
	}
	if a.fail503 > 0 {
		a.fail503--
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if a.throttle > 0 {
		a.throttle--
		w.Header().Set("Retry-After", "5")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	}
	q := r.URL.Query()
	a.queries = append(a.queries, r.URL.RawQuery)
	var rows []map[string]any
	for _, s := range a.subs {
		if since := q.Get("updated_since"); since == "" || s["updated_at"].(string) >= since {
			rows = append(rows, s)
		}
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit == 0 {
		limit = 3
	}
	start := 0
	switch {
	case q.Has("after"):
		start, _ = strconv.Atoi(q.Get("after"))
	case q.Has("offset"):
		start, _ = strconv.Atoi(q.Get("offset"))
	case q.Has("page"):
		p, _ := strconv.Atoi(q.Get("page"))
		start = (p - 1) * limit
	case q.Has("from"):
		start, _ = strconv.Atoi(q.Get("from"))
	}
	end := min(start+limit, len(rows))
	if start > end {
		start = end
	}
	body := map[string]any{"data": rows[start:end]}
	if end < len(rows) {
		next := url(a.URL, r.URL.Path, q, "from", end)
		body["paging"] = map[string]any{"after": strconv.Itoa(end), "next": next}
		w.Header().Set("Link", `<`+next+`>; rel="next", <`+a.URL+`/first>; rel="first"`)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}

func url(base, path string, q map[string][]string, key string, v int) string {
	parts := []string{key + "=" + strconv.Itoa(v)}
	for k, vs := range q {
		if k != key && k != "after" && k != "offset" && k != "page" {
			parts = append(parts, k+"="+vs[0])
		}
	}
	return base + path + "?" + strings.Join(parts, "&")
}

func config(a *formsAPI, p httpsource.Pagination) httpsource.Config {
	cfg := httpsource.Config{URL: a.URL + "/api/submissions", Records: "data", Pagination: p}
	cfg.APIKey = &httpapiKey
	cfg.Incremental = &httpsource.Incremental{Field: "updated_at", Param: "updated_since"}
	return cfg
}

func readAll(t *testing.T, src *httpsource.Source, pos etl.Position, clock etl.Clock) ([]string, etl.Position, []etl.Reject) {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, etl.SourceEnv{Job: "forms", Position: pos, BatchSize: 4, Clock: clock}); err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())
	var emails []string
	var rejects []etl.Reject
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			return emails, pos, rejects
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Check(); err != nil {
			t.Fatal(err)
		}
		for i := range b.Len() {
			emails = append(emails, b.Col("email").Str[i])
		}
		rejects = append(rejects, b.Rejects...)
		pos = b.Position
	}
}

func TestPaginationKinds(t *testing.T) {
	t.Parallel()
	want := []string{"lead0@example.com", "lead1@example.com", "lead2@example.com", "lead3@example.com", "lead4@example.com", "lead5@example.com", "lead6@example.com"}
	for _, p := range []httpsource.Pagination{
		{Type: "cursor", Param: "after", CursorPath: "paging.after"},
		{Type: "next_link", NextPath: "paging.next"},
		{Type: "next_link"}, // the Link header
		{Type: "offset", LimitParam: "limit", PageSize: 3},
		{Type: "page", LimitParam: "limit", PageSize: 3},
	} {
		t.Run(p.Type+p.NextPath, func(t *testing.T) {
			a := newFormsAPI(t, 7)
			src, err := httpsource.New(config(a, p), etl.BuildEnv{})
			if err != nil {
				t.Fatal(err)
			}
			got, pos, _ := readAll(t, src, nil, nil)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			var end httpsource.Position
			json.Unmarshal(pos, &end)
			if end.More || end.Max != "2026-11-07T10:00:00Z" {
				t.Errorf("final position %s", pos)
			}
		})
	}
}

var httpapiKey = httpsourceAPIKey()

func TestIncrementalRunsThroughTheRunner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newFormsAPI(t, 7)
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := etltest.NewClock(time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC))
	runner := &etl.Runner{Store: st, Owner: "test", Clock: clock}
	run := func() (*etltest.Target, etl.Run) {
		src, err := httpsource.New(config(a, httpsource.Pagination{Type: "cursor", Param: "after", CursorPath: "paging.after"}), etl.BuildEnv{})
		if err != nil {
			t.Fatal(err)
		}
		tg := &etltest.Target{}
		r, err := runner.Run(ctx, &etl.Job{Name: "forms", Source: src, BatchSize: 4, Targets: []etl.NamedTarget{{Name: "t", Target: tg}}}, etl.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tg, r
	}
	a.fail503, a.throttle = 2, 1 // retried within the run
	tg, r := run()
	if r.Read != 7 || tg.Rows() != 7 {
		t.Fatalf("first run read %d, wrote %d; want 7", r.Read, tg.Rows())
	}
	if clock.Slept() < 5*time.Second {
		t.Errorf("slept %v: the 429's Retry-After (5s) was not honoured", clock.Slept())
	}
	a.mu.Lock()
	a.add(7)
	a.add(8)
	a.queries = nil
	a.mu.Unlock()
	tg, r = run()
	// The last record of the first run is read again (updated_since is
	// inclusive, so records sharing its timestamp are not skipped).
	if r.Read != 3 || tg.Rows() != 3 {
		t.Errorf("second run read %d; want 3 (the boundary record and the 2 new ones)", r.Read)
	}
	if len(a.queries) == 0 || !strings.Contains(a.queries[0], "updated_since=2026-11-07T10%3A00%3A00Z") {
		t.Errorf("second run's queries = %v", a.queries)
	}
}

func TestResumeWithinAPass(t *testing.T) {
	t.Parallel()
	a := newFormsAPI(t, 7)
	src, err := httpsource.New(config(a, httpsource.Pagination{Type: "cursor", Param: "after", CursorPath: "paging.after"}), etl.BuildEnv{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := readAll(t, src, etl.Position(`{"since":"2026-11-02T10:00:00Z","max":"2026-11-04T10:00:00Z","cursor":"3","more":true}`), nil)
	// Records from updated_since 11-02 are 1..6; after cursor 3: 4, 5, 6.
	if diff := cmp.Diff([]string{"lead4@example.com", "lead5@example.com", "lead6@example.com"}, got); diff != "" {
		t.Errorf("resumed records (-want +got):\n%s", diff)
	}
}

func TestTypedFieldsRejectBadValues(t *testing.T) {
	t.Parallel()
	a := newFormsAPI(t, 3)
	a.subs[1]["id"] = "not-a-number"
	cfg := config(a, httpsource.Pagination{})
	cfg.Fields = map[string]string{"id": "int", "email": "string", "updated_at": "timestamp", "score": "float", "answers": "json"}
	src, err := httpsource.New(cfg, etl.BuildEnv{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, rejects := readAll(t, src, nil, nil)
	if len(got) != 2 || len(rejects) != 1 || rejects[0].Field != "id" || rejects[0].Value != "not-a-number" ||
		rejects[0].Origin.Cursor != "page 1 record 2" {
		t.Errorf("got %v, rejects %+v", got, rejects)
	}
}

func TestKeyNeverInErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden for key "+r.Header.Get("X-API-Key")+" at "+r.URL.RawQuery, http.StatusForbidden)
	}))
	defer srv.Close()
	cfg := httpsource.Config{URL: srv.URL + "/x?token=" + apiKey}
	cfg.APIKey = &httpapiKey
	src, err := httpsource.New(cfg, etl.BuildEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background(), etl.SourceEnv{BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	_, err = src.Next(context.Background())
	if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), apiKey) {
		t.Errorf("err = %v", err)
	}
}
