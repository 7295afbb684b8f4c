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
	"sync/atomic"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/httpsource"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// drain reads src to its end or its first error, at most limit batches.
func drain(src *httpsource.Source, env etl.SourceEnv, limit int) (rows int, pos etl.Position, err error) {
	ctx := context.Background()
	if err := src.Open(ctx, env); err != nil {
		return 0, nil, err
	}
	defer src.Close(context.Background())
	for range limit {
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			return rows, pos, nil
		}
		if err != nil {
			return rows, pos, err
		}
		rows += b.Len()
		pos = b.Position
	}
	return rows, pos, errors.New("did not end")
}

// TestNextLinkToAnotherHostKeepsTheKey: a next link (in the body or the
// Link header) to another origin, here another loopback port, is refused
// by default naming both origins, and followed without the key under
// cross_origin: strip.
func TestNextLinkToAnotherHostKeepsTheKey(t *testing.T) {
	t.Parallel()
	var stolen atomic.Int32
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		if r.Header.Get("X-API-Key") != "" {
			stolen.Add(1)
		}
		w.Write([]byte(`{"data":[]}`))
	}))
	defer other.Close()
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `<`+other.URL+`/steal?page=2>; rel="next"`)
		fmt.Fprintf(w, `{"data":[{"id":1}],"next":%q}`, other.URL+"/steal?page=2")
	}))
	defer home.Close()
	for _, p := range []httpsource.Pagination{{Type: "next_link", NextPath: "next"}, {Type: "next_link"}} {
		for _, policy := range []string{"", httpapi.CrossOriginStrip} {
			cfg := httpsource.Config{URL: home.URL + "/items", Records: "data", Pagination: p}
			cfg.APIKey, cfg.CrossOrigin = &httpapiKey, policy
			src, err := httpsource.New(cfg, etl.BuildEnv{})
			if err != nil {
				t.Fatal(err)
			}
			before := otherHits.Load()
			rows, _, err := drain(src, etl.SourceEnv{BatchSize: 1}, 10)
			if policy == "" {
				if !errors.Is(err, httpapi.ErrCrossOrigin) || !strings.Contains(err.Error(), strings.TrimPrefix(other.URL, "http://")) ||
					!strings.Contains(err.Error(), strings.TrimPrefix(home.URL, "http://")) || otherHits.Load() != before {
					t.Errorf("%+v: err = %v; want ErrCrossOrigin naming both origins, and no request elsewhere", p, err)
				}
			} else if err != nil || rows != 1 || otherHits.Load() != before+1 {
				t.Errorf("%+v, strip: rows %d, err %v", p, rows, err)
			}
		}
	}
	if stolen.Load() != 0 {
		t.Errorf("the other host got the key %d times", stolen.Load())
	}
}

// loopAPI misbehaves in one way per path; it counts requests.
func loopAPI(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := n.Add(1)
		rec := fmt.Sprintf(`{"id":%d}`, k) // distinct records each time
		switch r.URL.Path {
		case "/cursor": // the same cursor forever
			fmt.Fprintf(w, `{"data":[%s],"next":"abc"}`, rec)
		case "/cursor-cycle": // a, b, a, b…
			fmt.Fprintf(w, `{"data":[%s],"next":%q}`, rec, []string{"a", "b"}[k%2])
		case "/self-link": // next is the page itself
			fmt.Fprintf(w, `{"data":[%s],"next":%q}`, rec, srv.URL+r.URL.RequestURI())
		case "/self-header":
			w.Header().Set("Link", `<`+r.URL.RequestURI()+`>; rel="next"`)
			fmt.Fprintf(w, `{"data":[%s]}`, rec)
		case "/ignored": // offset and page ignored: the same page forever
			w.Write([]byte(`{"data":[{"id":1},{"id":2}]}`))
		case "/endless": // distinct pages forever
			fmt.Fprintf(w, `{"data":[%s],"next":"c%d"}`, rec, k)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestPaginationThatNeverEndsFails: a repeated cursor, a next link or Link
// header to the page itself, an offset or page number the server ignores:
// each fails the run in a few requests with an error saying so; distinct
// pages forever stop at max_pages.
func TestPaginationThatNeverEndsFails(t *testing.T) {
	t.Parallel()
	srv, n := loopAPI(t)
	for _, tc := range []struct {
		path string
		p    httpsource.Pagination
		want string
	}{
		{"/cursor", httpsource.Pagination{Type: "cursor", CursorPath: "next"}, `cursor "abc" was already read`},
		{"/cursor-cycle", httpsource.Pagination{Type: "cursor", CursorPath: "next"}, `cursor "b" was already read`},
		{"/self-link", httpsource.Pagination{Type: "next_link", NextPath: "next"}, "already read in this run"},
		{"/self-header", httpsource.Pagination{Type: "next_link"}, "already read in this run"},
		{"/ignored", httpsource.Pagination{Type: "offset", LimitParam: "limit", PageSize: 2}, "does it ignore the offset parameter"},
		{"/ignored", httpsource.Pagination{Type: "page", LimitParam: "limit", PageSize: 2}, "does it ignore the page parameter"},
		{"/endless", httpsource.Pagination{Type: "cursor", CursorPath: "next", MaxPages: 50}, "read max_pages (50) pages"},
	} {
		src, err := httpsource.New(httpsource.Config{URL: srv.URL + tc.path, Records: "data", Pagination: tc.p}, etl.BuildEnv{})
		if err != nil {
			t.Fatal(err)
		}
		n.Store(0)
		_, _, err = drain(src, etl.SourceEnv{BatchSize: 1}, 1000)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: err = %v, want one saying %q", tc.path, tc.p.Type, err, tc.want)
		}
		if n.Load() > 50 {
			t.Errorf("%s %s: %d requests", tc.path, tc.p.Type, n.Load())
		}
	}
}

// newestFirst serves records newest first, 2 a page by cursor, filtered
// by updated_since; page 2 of the first pass answers 200 with an error
// object instead of records while broken is set.
type newestFirst struct {
	*httptest.Server
	mu     sync.Mutex
	recs   []map[string]any
	broken bool
	since  []string
}

func newNewestFirst(t *testing.T, recs []map[string]any) *newestFirst {
	a := &newestFirst{recs: recs}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		q := r.URL.Query()
		a.since = append(a.since, q.Get("since"))
		after, _ := strconv.Atoi(q.Get("after"))
		if after > 0 && a.broken {
			w.Write([]byte(`{"error":"internal search timeout","status":"error"}`))
			return
		}
		var rows []map[string]any
		for _, rec := range a.recs {
			if s := q.Get("since"); s == "" || rec["updated_at"].(string) >= s {
				rows = append(rows, rec)
			}
		}
		end := min(after+2, len(rows))
		body := map[string]any{"data": rows[min(after, end):end]}
		if end < len(rows) {
			body["next"] = strconv.Itoa(end)
		}
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *newestFirst) config() httpsource.Config {
	return httpsource.Config{URL: a.URL + "/items", Records: "data",
		Fields:      map[string]string{"id": "int", "updated_at": "timestamp"},
		Pagination:  httpsource.Pagination{Type: "cursor", Param: "after", CursorPath: "next"},
		Incremental: &httpsource.Incremental{Field: "updated_at", Param: "since"}}
}

func run(t *testing.T, runner *etl.Runner, cfg httpsource.Config) (*etltest.Target, etl.Run, error) {
	t.Helper()
	src, err := httpsource.New(cfg, etl.BuildEnv{})
	if err != nil {
		t.Fatal(err)
	}
	tg := &etltest.Target{}
	r, err := runner.Run(context.Background(), &etl.Job{Name: "items", Source: src, BatchSize: 2,
		Targets: []etl.NamedTarget{{Name: "t", Target: tg}}}, etl.RunOptions{})
	return tg, r, err
}

func newRunner(t *testing.T, now time.Time) *etl.Runner {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &etl.Runner{Store: st, Owner: "test", Clock: etltest.NewClock(now)}
}

func item(id int, at string) map[string]any { return map[string]any{"id": id, "updated_at": at} }

// TestPageWithoutRecordsFailsAndKeepsTheMark: a 200 without the records
// array fails the run; newest-first records read before it do not make the
// next run start after the ones not read.
func TestPageWithoutRecordsFailsAndKeepsTheMark(t *testing.T) {
	t.Parallel()
	a := newNewestFirst(t, []map[string]any{item(6, "2026-11-06T00:00:00Z"), item(5, "2026-11-05T00:00:00Z"),
		item(4, "2026-11-04T00:00:00Z"), item(3, "2026-11-03T00:00:00Z"), item(2, "2026-11-02T00:00:00Z"), item(1, "2026-11-01T00:00:00Z")})
	runner := newRunner(t, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	a.broken = true
	tg1, r, err := run(t, runner, a.config())
	if err == nil || r.Status != etl.RunFailed || !strings.Contains(err.Error(), `no "data" array`) ||
		!strings.Contains(err.Error(), "cursor 2") || !strings.Contains(err.Error(), "internal search timeout") {
		t.Fatalf("run 1: status %s, err %v; want a failure naming the page, the records path and the body", r.Status, err)
	}
	a.mu.Lock()
	a.broken, a.since = false, nil
	a.mu.Unlock()
	tg2, _, err := run(t, runner, a.config())
	if err != nil {
		t.Fatal(err)
	}
	if got := tg1.Rows() + tg2.Rows(); got != 6 {
		t.Errorf("loaded %d + %d rows over both runs, want all 6", tg1.Rows(), tg2.Rows())
	}
	if len(a.since) == 0 || a.since[0] != "" {
		t.Errorf("run 2 asked since %q, want the first pass resumed (since unchanged)", a.since)
	}
}

// TestPoisonedMarkIsIgnored: a record dated 9999-12-31 is loaded but does
// not become the mark; a value that fails its type is quarantined and does
// not either; a mark already in the future is reported.
func TestPoisonedMarkIsIgnored(t *testing.T) {
	t.Parallel()
	a := newNewestFirst(t, []map[string]any{item(9, "9999-12-31T23:59:59Z"), item(8, "zzz-not-a-time"),
		item(2, "2026-11-02T00:00:00Z"), item(1, "2026-11-01T00:00:00Z")})
	runner := newRunner(t, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	var logs httpapitest.LogBuffer
	runner.Logger = logs.Logger()
	tg, r, err := run(t, runner, a.config())
	if err != nil || tg.Rows() != 3 || r.Rejected != 1 {
		t.Fatalf("run 1: rows %d, rejected %d, err %v; want 3 loaded and the bad timestamp quarantined", tg.Rows(), r.Rejected, err)
	}
	if !strings.Contains(logs.String(), "in the future do not move the mark") {
		t.Errorf("the future record was not reported:\n%s", logs.String())
	}
	a.mu.Lock()
	a.since = nil
	a.mu.Unlock()
	if _, _, err := run(t, runner, a.config()); err != nil {
		t.Fatal(err)
	}
	if len(a.since) == 0 || a.since[0] != "2026-11-02T00:00:00Z" {
		t.Errorf("run 2 asked since %q, want the largest loaded, sane value", a.since)
	}

	// A mark already poisoned (by an older version) is reported at Open.
	src, _ := httpsource.New(a.config(), etl.BuildEnv{})
	logs = httpapitest.LogBuffer{}
	if _, _, err := drain(src, etl.SourceEnv{BatchSize: 10, Logger: logs.Logger(), Clock: etltest.NewClock(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)),
		Position: etl.Position(`{"since":"9999-12-31T23:59:59Z","max":"9999-12-31T23:59:59Z"}`)}, 10); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "the incremental mark is in the future") {
		t.Errorf("a future mark was not reported:\n%s", logs.String())
	}
}

// TestPageOverMaxBodySaysSo: a page larger than max_body fails naming the
// bound, not as "unexpected EOF".
func TestPageOverMaxBodySaysSo(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":[`))
		for i := range 1000 {
			if i > 0 {
				w.Write([]byte(","))
			}
			fmt.Fprintf(w, `{"id":%d}`, i)
		}
		w.Write([]byte(`]}`))
	}))
	defer srv.Close()
	cfg := httpsource.Config{URL: srv.URL + "/big", Records: "data"}
	cfg.MaxBody = 4096
	src, _ := httpsource.New(cfg, etl.BuildEnv{})
	_, _, err := drain(src, etl.SourceEnv{BatchSize: 10}, 10)
	if !errors.Is(err, httpapi.ErrBodyTooLarge) || !strings.Contains(err.Error(), "max_body") || strings.Contains(err.Error(), "EOF") {
		t.Errorf("err = %v, want ErrBodyTooLarge naming max_body", err)
	}
}

// TestOriginsNameThePageOnce: a reject's origin reads "cursor 2 record 2".
func TestOriginsNameThePageOnce(t *testing.T) {
	t.Parallel()
	a := newNewestFirst(t, []map[string]any{item(4, "2026-11-04T00:00:00Z"), item(3, "2026-11-03T00:00:00Z"),
		item(2, "2026-11-02T00:00:00Z"), {"id": "x", "updated_at": "2026-11-01T00:00:00Z"}})
	src, _ := httpsource.New(a.config(), etl.BuildEnv{})
	if err := src.Open(context.Background(), etl.SourceEnv{BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	b, err := src.Next(context.Background())
	if err != nil || len(b.Rejects) != 1 {
		t.Fatalf("err %v", err)
	}
	if got := b.Rejects[0].Origin.String(); got != "cursor 2 record 2" {
		t.Errorf("origin %q", got)
	}
}

// TestPageCutOffIsReadAgain: a page whose connection drops mid-body is read
// again, and the rows (and rejects) of the cut read are not kept twice.
func TestPageCutOffIsReadAgain(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	page := `{"data":[{"id":1},{"id":"bad"},{"id":3},{"id":4}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			// Promise the whole page, send 30 bytes, hang up.
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(page), page[:30])
			buf.Flush()
			conn.Close()
			return
		}
		w.Write([]byte(page))
	}))
	defer srv.Close()
	cfg := httpsource.Config{URL: srv.URL + "/items", Records: "data", Fields: map[string]string{"id": "int"}}
	src, _ := httpsource.New(cfg, etl.BuildEnv{})
	var logs httpapitest.LogBuffer
	if err := src.Open(context.Background(), etl.SourceEnv{BatchSize: 10, Logger: logs.Logger(),
		Clock: etltest.NewClock(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))}); err != nil {
		t.Fatal(err)
	}
	b, err := src.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 3 || len(b.Rejects) != 1 || n.Load() != 3 {
		t.Errorf("rows %d, rejects %d, requests %d; want 3, 1, 3", b.Len(), len(b.Rejects), n.Load())
	}
	if err := b.Check(); err != nil {
		t.Error(err)
	}
	if !strings.Contains(logs.String(), "page cut off, reading it again") {
		t.Errorf("not logged:\n%s", logs.String())
	}
}

// TestSourceHeadersOnAConnectionAreSecret: headers set on a source bound to
// a connection are hidden from errors like the connection's own.
func TestSourceHeadersOnAConnectionAreSecret(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "you sent %v", r.Header)
	}))
	defer srv.Close()
	conn := &httpsource.ConnConfig{}
	conn.BaseURL, conn.Token = srv.URL, "conn-token-0808"
	cfg := httpsource.Config{URL: "/items", Records: "data"}
	cfg.Headers = map[string]string{}
	cfg.Headers["X-Workspace-Key"] = "ws-secret-0909"
	src, err := httpsource.New(cfg, etl.BuildEnv{Connection: &etl.Connection{Name: "api", Type: "http", Config: conn}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = drain(src, etl.SourceEnv{BatchSize: 10}, 2)
	if err == nil || strings.Contains(err.Error(), "ws-secret-0909") || strings.Contains(err.Error(), "conn-token-0808") {
		t.Errorf("err = %v", err)
	}
}

// TestDeeplyNestedPageFails: a body nested a million levels deep fails the
// page instead of overflowing the stack.
func TestDeeplyNestedPageFails(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"meta":`))
		w.Write([]byte(strings.Repeat("[", 1_000_000)))
	}))
	defer srv.Close()
	src, _ := httpsource.New(httpsource.Config{URL: srv.URL + "/deep", Records: "data"}, etl.BuildEnv{})
	_, _, err := drain(src, etl.SourceEnv{BatchSize: 10}, 2)
	if err == nil || !strings.Contains(err.Error(), "nested deeper than") {
		t.Errorf("err = %v", err)
	}
}
