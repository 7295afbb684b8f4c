package graphql_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/graphql"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

const token = "shop-token-4242"

var t0 = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)

func orders(from, n int) []order {
	out := make([]order, n)
	for i := range out {
		k := from + i
		out[i] = order{ID: fmt.Sprintf("gid://shop/Order/%d", k), Name: fmt.Sprintf("#%d", 1000+k), Total: float64(k) + 0.5,
			UpdatedAt: fmt.Sprintf("2026-11-%02dT10:00:00Z", 1+k)}
	}
	return out
}

func config(s *shop, first int) graphql.Config {
	cfg := graphql.Config{URL: s.URL + "/graphql", Query: "orders.graphql", Schema: "shop.graphql",
		Variables: map[string]any{"first": first}, Records: "orders"}
	cfg.Token = token
	cfg.MaxRetries = -1
	cfg.Incremental = &graphql.Incremental{Field: "updatedAt", Variable: "since"}
	return cfg
}

func newSource(t *testing.T, cfg graphql.Config) *graphql.Source {
	t.Helper()
	src, err := graphql.New(cfg, etl.BuildEnv{BaseDir: "testdata"})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// read reads the source from pos to the end or the first error, and
// returns the names read, the last batch's position and the error.
func read(t *testing.T, src *graphql.Source, pos etl.Position, env etl.SourceEnv) ([]string, etl.Position, error) {
	t.Helper()
	ctx := context.Background()
	env.Position = pos
	if env.BatchSize == 0 {
		env.BatchSize = 1
	}
	if err := src.Open(ctx, env); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var names []string
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			return names, pos, nil
		}
		if err != nil {
			return names, pos, err
		}
		if err := b.Check(); err != nil {
			t.Fatal(err)
		}
		for i := range b.Len() {
			names = append(names, b.Col("name").Str[i])
		}
		pos = b.Position
	}
}

func namesOf(os []order) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.Name
	}
	return out
}

func checkValid(t *testing.T, s *shop) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queries) == 0 {
		t.Fatal("the server got no query")
	}
	if len(s.invalid) > 0 {
		t.Errorf("queries that do not validate against the schema: %v", s.invalid)
	}
}

func TestPagesThroughARelayConnection(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.add(orders(0, 7)...)
	got, pos, err := read(t, newSource(t, config(s, 3)), nil, etl.SourceEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(namesOf(s.orders), got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	var end graphql.Position
	json.Unmarshal(pos, &end)
	if end.More || end.Max != "2026-11-07T10:00:00Z" {
		t.Errorf("final position %s", pos)
	}
	if len(s.queries) != 3 {
		t.Errorf("%d requests for 7 records in pages of 3; want 3", len(s.queries))
	}
	// The cursor travels as a variable, never spliced into the query.
	if s.vars[1]["after"] != cursorOf(s.orders[2]) || strings.Contains(s.queries[1], cursorOf(s.orders[2])) {
		t.Errorf("second request's variables %v", s.vars[1])
	}
	checkValid(t, s)
}

func TestIncrementalRunsSendTheMarkAsAVariable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newShop(t)
	s.add(orders(0, 5)...)
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runner := &etl.Runner{Store: st, Owner: "test"}
	run := func() (*etltest.Target, etl.Run, error) {
		tg := &etltest.Target{}
		r, err := runner.Run(ctx, &etl.Job{Name: "orders", Source: newSource(t, config(s, 2)), BatchSize: 2,
			Targets: []etl.NamedTarget{{Name: "t", Target: tg}}}, etl.RunOptions{})
		return tg, r, err
	}
	if _, r, err := run(); err != nil || r.Read != 5 {
		t.Fatalf("first run: read %d, %v", r.Read, err)
	}
	s.add(orders(5, 3)...)
	s.mu.Lock()
	s.vars = nil
	s.mu.Unlock()
	tg, r, err := run()
	if err != nil || r.Read != 3 || tg.Rows() != 3 {
		t.Fatalf("second run: read %d, wrote %d, %v; want the 3 new orders", r.Read, tg.Rows(), err)
	}
	if s.vars[0]["since"] != "2026-11-05T10:00:00Z" {
		t.Errorf("second run's first variables %v; want since = the first run's last updatedAt", s.vars[0])
	}
	checkValid(t, s)
}

func TestErrorsWithStatus200FailThePage(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.add(orders(0, 7)...)
	s.failAt[2] = true
	src := newSource(t, config(s, 3))
	got, pos, err := read(t, src, nil, etl.SourceEnv{})
	if err == nil || !strings.Contains(err.Error(), "page 2") || !strings.Contains(err.Error(), "the response has errors: Internal error") ||
		!strings.Contains(err.Error(), "INTERNAL_SERVER_ERROR") {
		t.Fatalf("err = %v; want page 2 failed with the server's error", err)
	}
	if diff := cmp.Diff(namesOf(s.orders[:3]), got); diff != "" {
		t.Errorf("records before the failure (-want +got):\n%s", diff)
	}
	// The position is past page 1 only: the next run reads pages 2 and 3.
	rest, _, err := read(t, src, pos, etl.SourceEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(namesOf(s.orders[3:]), rest); diff != "" {
		t.Errorf("resumed records (-want +got):\n%s", diff)
	}
}

func TestPartialWarnLoadsTheDataAndLogsTheErrors(t *testing.T) {
	t.Parallel()
	for _, partial := range []string{"", "warn"} {
		t.Run("partial="+partial, func(t *testing.T) {
			s := newShop(t)
			s.add(orders(0, 4)...)
			s.partialAt[1] = true
			cfg := config(s, 10)
			cfg.Partial = partial
			var logs httpapitest.LogBuffer
			got, _, err := read(t, newSource(t, cfg), nil, etl.SourceEnv{Logger: logs.Logger()})
			if partial == "" {
				if err == nil || !strings.Contains(err.Error(), "total is not available for one order (at orders.edges.0.node.total)") || len(got) != 0 {
					t.Errorf("partial: fail read %v, err %v; want the page failed", got, err)
				}
				return
			}
			if err != nil || len(got) != 4 {
				t.Errorf("partial: warn read %v, err %v; want the 4 orders", got, err)
			}
			if !strings.Contains(logs.String(), "total is not available") {
				t.Errorf("the errors were not logged: %s", logs.String())
			}
		})
	}
}

func TestRepeatedCursorAndMaxPagesFail(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.add(orders(0, 9)...)
	s.repeatCursor = true
	_, _, err := read(t, newSource(t, config(s, 2)), nil, etl.SourceEnv{})
	if err == nil || !strings.Contains(err.Error(), "already read in this run") {
		t.Errorf("repeating cursor: err = %v", err)
	}
	s2 := newShop(t)
	s2.add(orders(0, 9)...)
	cfg := config(s2, 2)
	cfg.Pagination.MaxPages = 3
	got, _, err := read(t, newSource(t, cfg), nil, etl.SourceEnv{})
	if err == nil || !strings.Contains(err.Error(), "max_pages (3)") || len(got) != 6 {
		t.Errorf("max_pages: read %d, err = %v", len(got), err)
	}
}

func TestCostExtensionPacesTheRequests(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.add(orders(0, 12)...)
	clock := httpapitest.NewClock(t0)
	// A bucket of 10 refilling 1 a second, each page costing 4: without
	// pacing the third page would be THROTTLED.
	s.cost = &bucket{clock: clock, max: 10, rate: 1, avail: 10, at: t0.UnixNano(), perQuery: 4}
	cfg := config(s, 2)
	got, _, err := read(t, newSource(t, cfg), nil, etl.SourceEnv{Clock: clock})
	if err != nil || len(got) != 12 {
		t.Fatalf("read %d, %v", len(got), err)
	}
	if s.throttled != 0 {
		t.Errorf("%d requests were THROTTLED: the source did not wait for the bucket", s.throttled)
	}
	// 6 pages cost 24 from a bucket of 10 at 1/s: about 14 s of waiting.
	if clock.Slept() < 13*time.Second || clock.Slept() > 20*time.Second {
		t.Errorf("slept %v; want about 14s", clock.Slept())
	}
	// An empty bucket at the start: the first answer is THROTTLED (HTTP
	// 200, errors with code THROTTLED and the bucket's state); the query
	// is asked again once the bucket holds its cost.
	s3 := newShop(t)
	s3.add(orders(0, 4)...)
	s3.cost = &bucket{clock: clock, max: 10, rate: 1, avail: 0, at: clock.Now().UnixNano(), perQuery: 4}
	cfg = config(s3, 2)
	cfg.MaxRetries = 0 // the default budget
	before := clock.Slept()
	got, _, err = read(t, newSource(t, cfg), nil, etl.SourceEnv{Clock: clock})
	if err != nil || len(got) != 4 || s3.throttled != 1 {
		t.Errorf("from an empty bucket: read %d, %d THROTTLED, err %v; want 4 read after 1 THROTTLED", len(got), s3.throttled, err)
	}
	if d := clock.Slept() - before; d < 8*time.Second {
		t.Errorf("slept %v from an empty bucket; want at least 8s (two pages of 4 at 1/s)", d)
	}
	// max_wait shorter than one refill stops the run instead.
	s2 := newShop(t)
	s2.add(orders(0, 12)...)
	s2.cost = &bucket{clock: clock, max: 10, rate: 0.001, avail: 10, at: clock.Now().UnixNano(), perQuery: 4}
	cfg = config(s2, 2)
	cfg.MaxWait = time.Minute
	_, _, err = read(t, newSource(t, cfg), nil, etl.SourceEnv{Clock: clock})
	if err == nil || !strings.Contains(err.Error(), "max_wait") {
		t.Errorf("err = %v; want the wait past max_wait refused", err)
	}
}

func TestQueryAndVariablesCheckedAtLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"shop.graphql", "orders.graphql"} {
		b, _ := os.ReadFile(filepath.Join("testdata", f))
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "typo.graphql"), []byte("query($first: Int!, $after: String) {\n  orders(first: $first, after: $after) {\n    nodes { id nmae }\n    pageInfo { endCursor hasNextPage }\n  }\n}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "mutation.graphql"), []byte("mutation { x }\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "strict.graphql"), []byte("query($first: Int!, $after: String!) { orders(first: $first, after: $after) { nodes { id } pageInfo { endCursor hasNextPage } } }\n"), 0o644)
	base := func() graphql.Config {
		return graphql.Config{URL: "https://shop.example.com/graphql", Query: "orders.graphql", Schema: "shop.graphql",
			Variables: map[string]any{"first": 10}, Records: "orders"}
	}
	for name, c := range map[string]struct {
		edit func(*graphql.Config)
		want string
	}{
		"misspelt field":      {func(c *graphql.Config) { c.Query = "typo.graphql" }, "typo.graphql:3:16: Cannot query field \"nmae\" on type \"Order\""},
		"wrong variable type": {func(c *graphql.Config) { c.Variables = map[string]any{"first": "ten"} }, "first"},
		"missing variable":    {func(c *graphql.Config) { c.Variables = nil }, "first"},
		"undeclared variable": {func(c *graphql.Config) { c.Variables["status"] = "open" }, "declares no $status"},
		"cursor set by hand":  {func(c *graphql.Config) { c.Variables["after"] = "x" }, "set by the source"},
		"mutation": {func(c *graphql.Config) {
			c.Query, c.Schema = "mutation.graphql", ""
		}, "a source runs queries only"},
		"non-null cursor": {func(c *graphql.Config) { c.Query, c.Schema = "strict.graphql", "" }, "declare it nullable"},
		"no such file":    {func(c *graphql.Config) { c.Query = "nope.graphql" }, "read the query file"},
		"bad partial":     {func(c *graphql.Config) { c.Partial = "ignore" }, "want fail"},
		"undeclared incremental": {func(c *graphql.Config) {
			c.Incremental = &graphql.Incremental{Field: "updatedAt", Variable: "changedSince"}
		}, "declares no $changedSince"},
	} {
		cfg := base()
		c.edit(&cfg)
		_, err := graphql.New(cfg, etl.BuildEnv{BaseDir: dir})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v; want %q", name, err, c.want)
		}
	}
	if _, err := graphql.New(base(), etl.BuildEnv{BaseDir: dir}); err != nil {
		t.Errorf("the good config: %v", err)
	}
}
