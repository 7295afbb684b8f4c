package shopify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/internal/gqlapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/connectors/shopify"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

var t0 = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)

// config is the orders source on a; the server checks every query
// against the Admin schema (TestEveryQueryValidatesAgainstTheAdminSchema
// checks them at load too).
func config(a *shopifyAPI) shopify.Config {
	cfg := shopify.Config{AccessToken: token, Resource: "orders",
		Incremental: &shopify.Incremental{Overlap: 10 * time.Minute}}
	cfg.BaseURL = a.api.URL
	cfg.MaxRetries = -1
	return cfg
}

func newSource(t *testing.T, cfg shopify.Config) *shopify.Source {
	t.Helper()
	src, err := shopify.New(cfg, etl.BuildEnv{})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// row is a loaded order: its name and its line items' titles.
type row struct {
	Name  string
	Items []string
}

func rowsOf(t *testing.T, bs []*etl.Batch) []row {
	t.Helper()
	return childRows(t, bs, "lineItems")
}

// childRows is rowsOf with the children in field.
func childRows(t *testing.T, bs []*etl.Batch, field string) []row {
	t.Helper()
	var out []row
	for _, b := range bs {
		if err := b.Check(); err != nil {
			t.Fatal(err)
		}
		for i := range b.Len() {
			r := row{Name: b.Col("name").Str[i]}
			items, _ := b.Col(field).Value(i).([]any)
			for _, it := range items {
				m := it.(map[string]any)
				if _, ok := m["__parentId"]; ok {
					t.Errorf("a line item kept its __parentId: %v", m)
				}
				r.Items = append(r.Items, m["title"].(string))
			}
			out = append(out, r)
		}
	}
	return out
}

func readAll(t *testing.T, src *shopify.Source, env etl.SourceEnv) ([]*etl.Batch, error) {
	t.Helper()
	ctx := context.Background()
	if env.BatchSize == 0 {
		env.BatchSize = 2
	}
	if err := src.Open(ctx, env); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []*etl.Batch
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}

func checkValid(t *testing.T, a *shopifyAPI) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.invalid) > 0 {
		t.Errorf("queries that do not validate against the Admin schema: %v", a.invalid)
	}
	if len(a.storageAuth) > 0 {
		t.Errorf("the access token went to the result's storage: %v", a.storageAuth)
	}
}

func TestBulkExportPutsChildrenBackUnderTheirParents(t *testing.T) {
	t.Parallel()
	a := newShopifyAPI(t)
	a.orders = []sorder{
		{id: "gid://shopify/Order/1", name: "#1001", updatedAt: "2026-11-01T10:00:00Z", items: []string{"mug", "tea"}},
		{id: "gid://shopify/Order/2", name: "#1002", updatedAt: "2026-11-02T10:00:00Z"},
		{id: "gid://shopify/Order/3", name: "#1003", updatedAt: "2026-11-03T10:00:00Z", items: []string{"pot", "cup", "lid"}},
	}
	a.childFirst = true // a child line before its parent is put back all the same
	clock := httpapitest.NewClock(t0)
	bs, err := readAll(t, newSource(t, config(a)), etl.SourceEnv{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	want := []row{{"#1001", []string{"mug", "tea"}}, {"#1002", nil}, {"#1003", []string{"pot", "cup", "lid"}}}
	if diff := cmp.Diff(want, rowsOf(t, bs)); diff != "" {
		t.Errorf("orders (-want +got):\n%s", diff)
	}
	var pos shopify.Position
	json.Unmarshal(bs[len(bs)-1].Position, &pos)
	if pos.Since != "2026-11-03T10:00:00Z" {
		t.Errorf("final position %s", bs[len(bs)-1].Position)
	}
	// Batches before the last keep the old position: a run stopped midway
	// exports again from the same mark.
	if string(bs[0].Position) != "{}" {
		t.Errorf("first batch's position %s; want the previous one ({})", bs[0].Position)
	}
	if diff := cmp.Diff([]string{"currentBulkOperation", "bulkOperationRunQuery", "node", "node"}, a.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if clock.Slept() != 2*shopify.DefaultPollInterval {
		t.Errorf("slept %v between polls; want 2 poll intervals", clock.Slept())
	}
	checkValid(t, a)
}

func TestBulkQueryAlreadyRunning(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) *shopifyAPI {
		a := newShopifyAPI(t)
		a.orders = []sorder{{id: "gid://shopify/Order/1", name: "#1001", updatedAt: "2026-11-01T10:00:00Z", items: []string{"mug"}}}
		a.polls = 4
		a.start("{ products { edges { node { id } } } }", false) // started by another app run, polled 4 times to end
		a.polls = 2
		return a
	}
	t.Run("refuse", func(t *testing.T) {
		t.Parallel()
		a := setup(t)
		cfg := config(a)
		cfg.OnRunning = "refuse"
		_, err := readAll(t, newSource(t, cfg), etl.SourceEnv{Clock: httpapitest.NewClock(t0)})
		if !errors.Is(err, shopify.ErrAlreadyRunning) || !strings.Contains(err.Error(), "gid://shopify/BulkOperation/1") {
			t.Errorf("err = %v", err)
		}
		if slices.Contains(a.calls, "bulkOperationRunQuery") {
			t.Errorf("a bulk query was started beside the running one: %v", a.calls)
		}
	})
	t.Run("wait", func(t *testing.T) {
		t.Parallel()
		a := setup(t)
		clock := httpapitest.NewClock(t0)
		bs, err := readAll(t, newSource(t, config(a)), etl.SourceEnv{Clock: clock})
		if err != nil || len(rowsOf(t, bs)) != 1 {
			t.Fatalf("read %d batches, err %v", len(bs), err)
		}
		if diff := cmp.Diff([]string{"currentBulkOperation", "node", "node", "node", "node", "bulkOperationRunQuery", "node", "node"}, a.calls); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		checkValid(t, a)
	})
	t.Run("wait bounded", func(t *testing.T) {
		t.Parallel()
		a := setup(t)
		cfg := config(a)
		cfg.RunningWait = 12 * time.Second // 2 polls of 5 s; it needs 4
		_, err := readAll(t, newSource(t, cfg), etl.SourceEnv{Clock: httpapitest.NewClock(t0)})
		if !errors.Is(err, shopify.ErrAlreadyRunning) || !strings.Contains(err.Error(), "after 12s") {
			t.Errorf("err = %v", err)
		}
		if slices.Contains(a.calls, "bulkOperationRunQuery") {
			t.Errorf("a bulk query was started beside the running one: %v", a.calls)
		}
	})
}

// run runs the orders job through the runner on st.
func run(t *testing.T, st etl.Store, a *shopifyAPI, clock etl.Clock) ([]row, error) {
	t.Helper()
	tg := &etltest.Target{}
	runner := &etl.Runner{Store: st, Owner: "test", Clock: clock}
	_, err := runner.Run(context.Background(), &etl.Job{Name: "orders", Source: newSource(t, config(a)), BatchSize: 2,
		Targets: []etl.NamedTarget{{Name: "t", Target: tg}}}, etl.RunOptions{})
	return rowsOf(t, tg.Written), err
}

func TestShortResultFailsTheRunAndKeepsThePosition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newShopifyAPI(t)
	for i := range 3 {
		a.orders = append(a.orders, sorder{id: fmt.Sprintf("gid://shopify/Order/%d", i), name: fmt.Sprintf("#%d", i),
			updatedAt: fmt.Sprintf("2026-11-0%dT10:00:00Z", i+1), items: []string{"a", "b"}})
	}
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := httpapitest.NewClock(t0)
	if got, err := run(t, st, a, clock); err != nil || len(got) != 3 {
		t.Fatalf("first run: %v, %v", got, err)
	}
	a.orders = append(a.orders, sorder{id: "gid://shopify/Order/9", name: "#9", updatedAt: "2026-11-09T10:00:00Z", items: []string{"x"}})
	a.short = 1 // the result lacks its last line: the new order's line item
	got, err := run(t, st, a, clock)
	if !errors.Is(err, shopify.ErrShortResult) || len(got) != 0 {
		t.Fatalf("short result: loaded %v, err %v; want nothing loaded and ErrShortResult", got, err)
	}
	if !strings.Contains(err.Error(), "counted 5 objects, its result has 4 lines") {
		t.Errorf("err = %v", err)
	}
	a.short = 0
	got, err = run(t, st, a, clock)
	if err != nil {
		t.Fatal(err)
	}
	// The mark did not move past the short result: the new order comes
	// now, and the orders already loaded in the overlap are not again.
	if diff := cmp.Diff([]row{{"#9", []string{"x"}}}, got); diff != "" {
		t.Errorf("run after the short one (-want +got):\n%s", diff)
	}
	// Each export asked from the mark less the 10-minute overlap.
	if !strings.Contains(a.bulkQueries[1], `query: "updated_at:>='2026-11-03T09:50:00Z'"`) ||
		!strings.Contains(a.bulkQueries[2], `query: "updated_at:>='2026-11-03T09:50:00Z'"`) {
		t.Errorf("bulk queries: %q", a.bulkQueries[1:])
	}
	checkValid(t, a)
}

func TestOverlapReloadsOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	a := newShopifyAPI(t)
	a.orders = []sorder{
		{id: "gid://shopify/Order/1", name: "#1", updatedAt: "2026-11-03T10:00:00Z"},
		{id: "gid://shopify/Order/2", name: "#2", updatedAt: "2026-11-03T10:05:00Z"},
	}
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := httpapitest.NewClock(t0)
	if got, err := run(t, st, a, clock); err != nil || len(got) != 2 {
		t.Fatalf("first run: %v, %v", got, err)
	}
	// Order 1 changed again, but its update landed late (dated inside the
	// overlap window); order 2 did not change.
	a.orders[0].updatedAt = "2026-11-03T10:01:00Z"
	a.orders[0].name = "#1 edited"
	got, err := run(t, st, a, clock)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]row{{"#1 edited", nil}}, got); diff != "" {
		t.Errorf("second run (-want +got):\n%s", diff)
	}
}

func TestEveryQueryValidatesAgainstTheAdminSchema(t *testing.T) {
	t.Parallel()
	schema := adminSchemaOrSkip(t)
	for _, res := range []string{"orders", "customers", "products"} {
		cfg := shopify.Config{Shop: "mystore", AccessToken: token, Resource: res, Schema: adminSchema}
		src, err := shopify.New(cfg, etl.BuildEnv{})
		if err != nil {
			t.Errorf("%s: %v", res, err)
			continue
		}
		for _, since := range []string{"", "2026-11-01T00:00:00Z"} {
			if _, err := gqlapi.Validate(schema, res, src.BulkQuery(since)); err != nil {
				t.Errorf("%s since %q: %v", res, since, err)
			}
		}
	}
	// The check is real: a misspelt field or a wrong argument is refused.
	if _, err := gqlapi.Validate(schema, "typo.graphql", "{\n  orders(sortKey: UPDATED_AT) { edges { node { id updatedAtt } } }\n}\n"); err == nil ||
		!strings.Contains(err.Error(), `typo.graphql:2:51: Cannot query field "updatedAtt" on type "Order"`) {
		t.Errorf("misspelt field: %v", err)
	}
	if _, err := gqlapi.Validate(schema, "arg.graphql", "{ orders(first: \"ten\") { edges { node { id } } } }"); err == nil {
		t.Error("a string for first: was accepted")
	}
}

func TestAQuarantinedRecordDoesNotMoveTheMark(t *testing.T) {
	t.Parallel()
	a := newShopifyAPI(t)
	a.orders = []sorder{
		{id: "gid://shopify/Order/1", name: "1", updatedAt: "2026-11-01T10:00:00Z"},
		{id: "gid://shopify/Order/2", name: "two", updatedAt: "2026-11-02T10:00:00Z"},
	}
	cfg := config(a)
	cfg.Fields = map[string]string{"id": "string", "name": "int", "updatedAt": "timestamp"}
	bs, err := readAll(t, newSource(t, cfg), etl.SourceEnv{Clock: httpapitest.NewClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	last := bs[len(bs)-1]
	var pos shopify.Position
	json.Unmarshal(last.Position, &pos)
	if len(last.Rejects) != 1 || last.Rejects[0].Field != "name" || last.Rejects[0].Origin.Cursor != "orders line 2" || pos.Since != "2026-11-01T10:00:00Z" {
		t.Errorf("rejects %+v, position %s; want order 2 quarantined (name, line 2) and the mark at order 1", last.Rejects, last.Position)
	}
}

func TestProductsGetTheirVariantsBack(t *testing.T) {
	t.Parallel()
	a := newShopifyAPI(t)
	a.orders = []sorder{
		{id: "gid://shopify/Product/1", name: "Mug", updatedAt: "2026-11-01T10:00:00Z", items: []string{"red", "blue"}},
		{id: "gid://shopify/Product/2", name: "Tea", updatedAt: "2026-11-02T10:00:00Z", items: []string{"50 g"}},
	}
	cfg := config(a)
	cfg.Resource = "products"
	bs, err := readAll(t, newSource(t, cfg), etl.SourceEnv{Clock: httpapitest.NewClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]row{{"Mug", []string{"red", "blue"}}, {"Tea", []string{"50 g"}}}, childRows(t, bs, "variants")); diff != "" {
		t.Errorf("products (-want +got):\n%s", diff)
	}
	if !strings.Contains(a.bulkQueries[0], "products(sortKey: UPDATED_AT)") {
		t.Errorf("bulk query %s", a.bulkQueries[0])
	}
	checkValid(t, a)
}
