package shopify_test

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

const token = "shpat_test_0123456789"

// adminSchema is the Admin API schema in ../shared beside the repository
// ($NIGHTJAR_SHARED when it lies elsewhere, as from a git worktree).
var adminSchema = filepath.Join(cmp.Or(os.Getenv("NIGHTJAR_SHARED"), "../../../shared"), "testdata/shopify/admin-2025-01.graphql")

var (
	schemaOnce sync.Once
	admin      *ast.Schema
	schemaErr  error
)

// adminSchemaOrSkip loads the Admin API 2025-01 schema from ../shared.
func adminSchemaOrSkip(t *testing.T) *ast.Schema {
	t.Helper()
	schemaOnce.Do(func() {
		src, err := os.ReadFile(adminSchema)
		if err != nil {
			schemaErr = err
			return
		}
		s, gerr := gqlparser.LoadSchema(&ast.Source{Name: "admin-2025-01.graphql", Input: string(src)})
		if gerr != nil {
			schemaErr = gerr
			return
		}
		admin = s
	})
	if errors.Is(schemaErr, fs.ErrNotExist) && os.Getenv("CI") == "" {
		t.Skipf("the Admin schema is not at %s: set NIGHTJAR_SHARED to the shared folder (CI fails here instead)", adminSchema)
	}
	if schemaErr != nil {
		t.Fatalf("the Admin schema (%s, beside the repository in ../shared): %v", adminSchema, schemaErr)
	}
	return admin
}

// sorder is an order of the test shop with its line items.
type sorder struct {
	id, name, updatedAt string
	items               []string
}

// bulkOp is one bulk operation of the fake shop.
type bulkOp struct {
	id, status string
	// polls left before it completes
	left  int
	lines []string
	// own is false for an operation the test started "elsewhere": it
	// completes without a result for us.
	own bool
}

// shopifyAPI follows Shopify's documented bulk flow: currentBulkOperation
// says what runs; bulkOperationRunQuery starts an operation (refused with
// a userError while another runs); node(id) polls it CREATED → RUNNING →
// COMPLETED with objectCount (a string, as UnsignedInt64 is sent) and a
// url on another origin (the storage server) serving the JSONL, children
// on lines of their own with __parentId. Every request, and the bulk
// query inside bulkOperationRunQuery, is validated with gqlparser against
// the Admin 2025-01 schema: failures are kept in invalid and answered as
// Shopify answers them (HTTP 200 with errors).
type shopifyAPI struct {
	api, storage *httptest.Server
	schema       *ast.Schema

	mu          sync.Mutex
	orders      []sorder
	ops         map[string]*bulkOp
	current     *bulkOp
	seq         int
	calls       []string
	bulkQueries []string
	invalid     []string
	storageAuth []string
	// polls is how many polls an operation of ours takes to complete.
	polls int
	// short drops that many lines from the end of the next result; its
	// objectCount still counts them.
	short int
	// childFirst puts the first child line before its parent.
	childFirst bool
}

func newShopifyAPI(t *testing.T) *shopifyAPI {
	t.Helper()
	a := &shopifyAPI{schema: adminSchemaOrSkip(t), ops: map[string]*bulkOp{}, polls: 2}
	a.api = httptest.NewServer(http.HandlerFunc(a.serve))
	a.storage = httptest.NewServer(http.HandlerFunc(a.serveResult))
	t.Cleanup(a.api.Close)
	t.Cleanup(a.storage.Close)
	return a
}

func (a *shopifyAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/admin/api/2025-01/graphql.json" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("X-Shopify-Access-Token") != token {
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]any{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		return
	}
	var req struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName"`
		Variables     map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	doc, errs := gqlparser.LoadQueryWithRules(a.schema, req.Query, nil)
	if len(errs) > 0 {
		a.invalid = append(a.invalid, errs.Error())
		writeJSON(w, map[string]any{"errors": errs})
		return
	}
	op := doc.Operations.ForName(req.OperationName)
	if op == nil && len(doc.Operations) == 1 {
		op = doc.Operations[0]
	}
	if op == nil {
		writeJSON(w, map[string]any{"errors": []any{map[string]any{"message": "no such operation"}}})
		return
	}
	root := op.SelectionSet[0].(*ast.Field).Name
	a.calls = append(a.calls, root)
	switch root {
	case "currentBulkOperation":
		writeJSON(w, map[string]any{"data": map[string]any{"currentBulkOperation": a.opJSON(a.current)}})
	case "node":
		id, _ := req.Variables["id"].(string)
		o := a.ops[id]
		if o != nil && o.status != "COMPLETED" {
			o.left--
			switch {
			case o.left <= 0:
				o.status = "COMPLETED"
			default:
				o.status = "RUNNING"
			}
		}
		writeJSON(w, map[string]any{"data": map[string]any{"node": a.opJSON(o)}})
	case "bulkOperationRunQuery":
		q, _ := req.Variables["query"].(string)
		a.bulkQueries = append(a.bulkQueries, q)
		if _, errs := gqlparser.LoadQueryWithRules(a.schema, q, nil); len(errs) > 0 {
			a.invalid = append(a.invalid, "bulk query: "+errs.Error())
			writeJSON(w, map[string]any{"data": map[string]any{"bulkOperationRunQuery": map[string]any{"bulkOperation": nil,
				"userErrors": []any{map[string]any{"field": []string{"query"}, "message": "Invalid bulk query: " + errs.Error()}}}}})
			return
		}
		if a.current != nil && a.current.status != "COMPLETED" {
			writeJSON(w, map[string]any{"data": map[string]any{"bulkOperationRunQuery": map[string]any{"bulkOperation": nil,
				"userErrors": []any{map[string]any{"field": nil, "message": "A bulk query operation for this app and shop is already in progress: " + a.current.id + "."}}}}})
			return
		}
		o := a.start(q, true)
		writeJSON(w, map[string]any{"data": map[string]any{"bulkOperationRunQuery": map[string]any{
			"bulkOperation": map[string]any{"id": o.id, "status": o.status}, "userErrors": []any{}}}})
	default:
		writeJSON(w, map[string]any{"errors": []any{map[string]any{"message": "unexpected " + root}}})
	}
}

var filterRE = regexp.MustCompile(`updated_at:>='([^']*)'`)

// start makes an operation of the orders matching the bulk query's filter.
func (a *shopifyAPI) start(q string, own bool) *bulkOp {
	a.seq++
	o := &bulkOp{id: fmt.Sprintf("gid://shopify/BulkOperation/%d", a.seq), status: "CREATED", left: a.polls, own: own}
	// The child lines are of the type the bulk query's root connection has.
	kidType, kidID := "LineItem", "LineItem"
	if strings.Contains(q, "products(") {
		kidType, kidID = "ProductVariant", "ProductVariant"
	}
	since := ""
	if m := filterRE.FindStringSubmatch(q); m != nil {
		since = m[1]
	}
	for _, or := range a.orders {
		if or.updatedAt < since {
			continue
		}
		parent, _ := json.Marshal(map[string]any{"id": or.id, "name": or.name, "updatedAt": or.updatedAt,
			"totalPriceSet": map[string]any{"shopMoney": map[string]any{"amount": "10.00", "currencyCode": "EUR"}}})
		var kids []string
		for i, it := range or.items {
			kid, _ := json.Marshal(map[string]any{"__typename": kidType, "id": fmt.Sprintf("%s/%s/%d", or.id, kidID, i), "title": it,
				"quantity": i + 1, "__parentId": or.id})
			kids = append(kids, string(kid))
		}
		if a.childFirst && len(kids) > 0 {
			o.lines = append(o.lines, kids[0], string(parent))
			o.lines = append(o.lines, kids[1:]...)
			continue
		}
		o.lines = append(o.lines, string(parent))
		o.lines = append(o.lines, kids...)
	}
	a.ops[o.id] = o
	a.current = o
	return o
}

func (a *shopifyAPI) opJSON(o *bulkOp) any {
	if o == nil {
		return nil
	}
	m := map[string]any{"id": o.id, "status": o.status, "errorCode": nil, "objectCount": fmt.Sprint(len(o.lines)), "url": nil, "partialDataUrl": nil}
	if o.status == "COMPLETED" && o.own && len(o.lines) > 0 {
		m["url"] = a.storage.URL + "/bulk/" + strings.TrimPrefix(o.id, "gid://shopify/BulkOperation/") + ".jsonl?X-Goog-Signature=abc"
	}
	if !o.own {
		m["objectCount"] = "0"
	}
	return m
}

func (a *shopifyAPI) serveResult(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if h := r.Header.Get("X-Shopify-Access-Token"); h != "" {
		a.storageAuth = append(a.storageAuth, h)
	}
	id := "gid://shopify/BulkOperation/" + strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/bulk/"), ".jsonl")
	o := a.ops[id]
	if o == nil || r.URL.Query().Get("X-Goog-Signature") != "abc" {
		http.Error(w, "AccessDenied", http.StatusForbidden)
		return
	}
	lines := o.lines[:len(o.lines)-min(a.short, len(o.lines))]
	w.Header().Set("Content-Type", "application/jsonl")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
