package graphql_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"testing"

	gg "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/nightjar-etl/nightjar/etl"
)

// order is one record of the shop.
type order struct {
	ID        string
	Name      string
	Total     float64
	UpdatedAt string
}

// shop is a real GraphQL server (graph-gophers/graphql-go) over
// testdata/shop.graphql: a Relay connection of orders sorted by
// (updatedAt, id), filtered by updatedSince (exclusive) and paged by a
// keyset cursor. Every query it gets is also checked with gqlparser
// against the same SDL, and any failure is kept in invalid.
type shop struct {
	*httptest.Server
	schema *gg.Schema
	sdl    *ast.Schema

	mu      sync.Mutex
	orders  []order
	queries []string
	vars    []map[string]any
	invalid []string
	// failAt makes the request with that number (1-based) answer HTTP 200
	// with errors and null data; partialAt answers errors with data.
	failAt, partialAt map[int]bool
	// repeatCursor makes every page's endCursor the first page's.
	repeatCursor bool
	// cost, when set, adds Shopify's extensions.cost to every answer and
	// refuses (THROTTLED) a query the bucket cannot pay; clock refills it.
	cost      *bucket
	throttled int
}

type bucket struct {
	clock     etl.Clock
	max, rate float64
	avail     float64
	at        int64 // unix nanos of the last refill
	perQuery  float64
}

func newShop(t *testing.T) *shop {
	t.Helper()
	src, err := os.ReadFile("testdata/shop.graphql")
	if err != nil {
		t.Fatal(err)
	}
	s := &shop{failAt: map[int]bool{}, partialAt: map[int]bool{}}
	s.schema = gg.MustParseSchema(string(src), &resolver{s: s}, gg.UseFieldResolvers())
	sdl, gerr := gqlparser.LoadSchema(&ast.Source{Name: "shop.graphql", Input: string(src)})
	if gerr != nil {
		t.Fatal(gerr)
	}
	s.sdl = sdl
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *shop) add(o ...order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orders = append(s.orders, o...)
	sort.Slice(s.orders, func(i, j int) bool { return key(s.orders[i]) < key(s.orders[j]) })
}

func key(o order) string { return o.UpdatedAt + "|" + o.ID }

func (s *shop) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName"`
		Variables     map[string]any `json:"variables"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "want a POSTed GraphQL request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.queries = append(s.queries, req.Query)
	s.vars = append(s.vars, req.Variables)
	n := len(s.queries)
	if _, errs := gqlparser.LoadQueryWithRules(s.sdl, req.Query, nil); len(errs) > 0 {
		s.invalid = append(s.invalid, errs.Error())
	}
	fail, partial := s.failAt[n], s.partialAt[n]
	var ext map[string]any
	if b := s.cost; b != nil {
		now := b.clock.Now().UnixNano()
		b.avail = min(b.max, b.avail+float64(now-b.at)/1e9*b.rate)
		b.at = now
		status := func() map[string]any {
			return map[string]any{"requestedQueryCost": b.perQuery, "actualQueryCost": b.perQuery,
				"throttleStatus": map[string]any{"maximumAvailable": b.max, "currentlyAvailable": b.avail, "restoreRate": b.rate}}
		}
		if b.avail < b.perQuery {
			s.throttled++
			s.mu.Unlock()
			writeJSON(w, map[string]any{"errors": []any{map[string]any{"message": "Throttled", "extensions": map[string]any{"code": "THROTTLED"}}},
				"extensions": map[string]any{"cost": status()}})
			return
		}
		b.avail -= b.perQuery
		ext = map[string]any{"cost": status()}
	}
	s.mu.Unlock()
	if fail {
		writeJSON(w, map[string]any{"data": nil, "errors": []any{map[string]any{"message": "Internal error. Looks like something went wrong on our end.", "extensions": map[string]any{"code": "INTERNAL_SERVER_ERROR"}}}})
		return
	}
	resp := s.schema.Exec(r.Context(), req.Query, req.OperationName, req.Variables)
	if partial {
		resp.Errors = append(resp.Errors, &gqlerrors.QueryError{Message: "total is not available for one order", Path: []any{"orders", "edges", 0, "node", "total"}})
	}
	if ext != nil {
		resp.Extensions = ext
	}
	writeJSON(w, resp)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// resolver serves Query.orders.
type resolver struct{ s *shop }

type ordersArgs struct {
	First        int32
	After        *string
	UpdatedSince *string
}

func (r *resolver) Orders(_ context.Context, args ordersArgs) (*conn, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	after := ""
	if args.After != nil {
		raw, err := base64.StdEncoding.DecodeString(*args.After)
		if err != nil {
			return nil, errors.New("bad cursor")
		}
		after = string(raw)
	}
	var page []order
	more := false
	for _, o := range r.s.orders {
		if args.UpdatedSince != nil && o.UpdatedAt <= *args.UpdatedSince {
			continue
		}
		if after != "" && key(o) <= after {
			continue
		}
		if len(page) == int(args.First) {
			more = true
			break
		}
		page = append(page, o)
	}
	c := &conn{PageInfo: pageInfo{HasNextPage: more}}
	for _, o := range page {
		c.Edges = append(c.Edges, edge{Cursor: cursorOf(o), Node: node(o)})
		c.Nodes = append(c.Nodes, node(o))
	}
	if len(page) > 0 {
		end := cursorOf(page[len(page)-1])
		if r.s.repeatCursor {
			end = cursorOf(r.s.orders[0])
		}
		c.PageInfo.EndCursor = &end
	}
	return c, nil
}

func cursorOf(o order) string { return base64.StdEncoding.EncodeToString([]byte(key(o))) }

func node(o order) *orderNode {
	return &orderNode{ID: gg.ID(o.ID), Name: o.Name, Total: o.Total, UpdatedAt: o.UpdatedAt}
}

type conn struct {
	Edges    []edge
	Nodes    []*orderNode
	PageInfo pageInfo
}

type edge struct {
	Cursor string
	Node   *orderNode
}

type orderNode struct {
	ID        gg.ID
	Name      string
	Total     float64
	UpdatedAt string
}

type pageInfo struct {
	EndCursor   *string
	HasNextPage bool
}
