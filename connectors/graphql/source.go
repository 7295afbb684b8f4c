package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/nightjar-etl/nightjar/connectors/internal/gqlapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// Pagination says how pages follow each other: the cursor variable the
// last page's pageInfo.endCursor is sent in.
type Pagination struct {
	// CursorVariable is the query's variable taking the cursor; default
	// "after". A query that does not declare it reads one page.
	CursorVariable string `yaml:"cursor_variable" doc:"the query's variable taking the cursor; default \"after\""`
	// MaxPages bounds the pages one run reads; default 10,000.
	MaxPages int `yaml:"max_pages" doc:"bounds the pages one run reads; default 10,000"`
}

// DefaultMaxPages is the default of pagination.max_pages.
const DefaultMaxPages = 10000

// DefaultMaxFuture is the default of incremental.max_future.
const DefaultMaxFuture = 24 * time.Hour

// Incremental reads only what changed since the last run.
type Incremental struct {
	// Field is the records' field holding their update time.
	Field string `yaml:"field,required" doc:"the records' field holding their update time"`
	// Variable is the query's variable the last seen value is sent in.
	Variable string `yaml:"variable,required" doc:"the query's variable the last seen value is sent in"`
	// Start is the value sent on the first run; null when empty.
	Start string `yaml:"start" doc:"the value sent on the first run; null when empty"`
	// MaxFuture is how far past now a value may be and still become the
	// mark; default 24 h.
	MaxFuture time.Duration `yaml:"max_future" doc:"how far past now a value may be and still become the mark; default 24 h"`
}

// Config is the "graphql" source's config.
type Config struct {
	// URL is the GraphQL endpoint, absolute.
	URL              string `yaml:"url,required" doc:"the GraphQL endpoint, absolute"`
	httpapi.Settings `yaml:",inline"`
	// Query is the .graphql file holding the query, relative to the
	// config file.
	Query string `yaml:"query,required" doc:"the .graphql file holding the query, relative to the config file"`
	// Schema is an SDL file the query and variables are checked against
	// at load; none when empty (the query's syntax is still checked).
	Schema string `yaml:"schema" doc:"an SDL file the query and variables are checked against at load; none when empty (the query's syntax is still checked)"`
	// Operation names the operation to run when the file has several.
	Operation string `yaml:"operation" doc:"names the operation to run when the file has several"`
	// Variables are the query's variables, as typed YAML values.
	Variables map[string]any `yaml:"variables" doc:"the query's variables, as typed YAML values"`
	// Records is the dotted path below data of the Relay connection
	// (its edges { node } or nodes, and its pageInfo).
	Records     string            `yaml:"records,required" doc:"the dotted path below data of the Relay connection (its edges { node } or nodes, and its pageInfo)"`
	Fields      map[string]string `yaml:"fields" doc:"the node fields to keep, by dotted path, with their types (string, int, float, bool, timestamp, json)"`
	Pagination  Pagination        `yaml:"pagination" doc:"how the Relay connection is paged: its cursor variable and a bound on pages"`
	Incremental *Incremental      `yaml:"incremental" doc:"reads only records changed since the last run, through a query variable"`
	// Partial is what a response with both data and errors does: fail
	// (the default) fails the page; warn loads the data and logs the
	// errors.
	Partial string `yaml:"partial" doc:"what a response with both data and errors does: fail (the default) fails the page; warn loads the data and logs the errors"`
}

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{
			Type:         "graphql",
			Summary:      "records from a GraphQL API's Relay connection: the query in its own file, cursor pages, incremental by a variable",
			Example:      "source:\n  type: graphql\n  url: https://shop.example.com/graphql\n  token: \"${SHOP_TOKEN}\"\n  query: queries/orders.graphql\n  variables: { first: 100 }\n  records: orders\n  pagination: { cursor_variable: after }\n  incremental: { field: updatedAt, variable: since }\n",
			ExampleFiles: map[string]string{"queries/orders.graphql": exampleQuery},
			Config:       func() any { return &Config{} },
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Source, error) { return New(*cfg.(*Config), env) },
	})
}

// exampleQuery is the query file of the spec's example.
const exampleQuery = `query Orders($first: Int!, $after: String, $since: String) {
  orders(first: $first, after: $after, updatedSince: $since) {
    edges { node { id name total updatedAt } }
    pageInfo { endCursor hasNextPage }
  }
}
`

// Position is where the source resumes: the pass's incremental value
// (Since), the largest value loaded in it (Max), and the cursor of the
// next page while the pass has more.
type Position struct {
	Since  string `json:"since,omitempty"`
	Max    string `json:"max,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	More   bool   `json:"more,omitempty"`
}

// Source reads a Relay connection page by page.
type Source struct {
	cfg    Config
	query  string
	paged  bool
	schema *etl.Schema
	app    httpapi.RecordAppender

	gql   *gqlapi.Client
	env   etl.SourceEnv
	clock etl.Clock
	pos   Position
	done  bool
	pages int
	// seen holds the cursors read in this run: a server that sends one
	// again loops.
	seen map[string]bool
	mark string
}

var _ etl.Source = (*Source)(nil)

// New reads and checks the query file (against the schema file when
// given) and the variables; it does no network I/O.
func New(cfg Config, env etl.BuildEnv) (*Source, error) {
	s := &Source{cfg: cfg}
	if err := cfg.Settings.Validate(false); err != nil {
		return nil, err
	}
	if cfg.BaseURL != "" {
		return nil, &etl.FieldError{Path: []string{"base_url"}, Err: errors.New("give the whole endpoint in url")}
	}
	if u, err := url.Parse(cfg.URL); err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, &etl.FieldError{Path: []string{"url"}, Err: errors.New("want an absolute http(s) URL")}
	}
	switch cfg.Partial {
	case "":
		s.cfg.Partial = "fail"
	case "fail", "warn":
	default:
		return nil, &etl.FieldError{Path: []string{"partial"}, Err: fmt.Errorf("%q: want fail (the default) or warn", cfg.Partial)}
	}
	p := &s.cfg.Pagination
	if p.CursorVariable == "" {
		p.CursorVariable = "after"
	}
	if p.MaxPages < 0 {
		return nil, &etl.FieldError{Path: []string{"pagination", "max_pages"}, Err: errors.New("negative")}
	}
	if p.MaxPages == 0 {
		p.MaxPages = DefaultMaxPages
	}
	if inc := s.cfg.Incremental; inc != nil {
		if inc.MaxFuture < 0 {
			return nil, &etl.FieldError{Path: []string{"incremental", "max_future"}, Err: errors.New("negative")}
		}
		if inc.MaxFuture == 0 {
			inc.MaxFuture = DefaultMaxFuture
		}
	}
	if len(cfg.Fields) > 0 {
		schema, cols, err := httpapi.FieldsSchema(cfg.Fields)
		if err != nil {
			return nil, err
		}
		s.schema, s.app.Cols = schema, cols
	}
	if err := s.loadQuery(env.BaseDir); err != nil {
		return nil, err
	}
	return s, nil
}

func rel(base, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// loadQuery reads the query file and checks it: its syntax, or every
// field and argument against the schema file; the variables against the
// operation's definitions; the cursor and incremental variables declared.
func (s *Source) loadQuery(base string) error {
	path := rel(base, s.cfg.Query)
	src, err := os.ReadFile(path)
	if err != nil {
		return &etl.FieldError{Path: []string{"query"}, Err: fmt.Errorf("read the query file: %w", err)}
	}
	s.query = string(src)
	var schema *ast.Schema
	var doc *ast.QueryDocument
	if s.cfg.Schema != "" {
		schema, err = gqlapi.LoadSchemaFile(rel(base, s.cfg.Schema))
		if err != nil {
			return &etl.FieldError{Path: []string{"schema"}, Err: err}
		}
		doc, err = gqlapi.Validate(schema, s.cfg.Query, s.query)
	} else {
		doc, err = gqlapi.ParseQuery(s.cfg.Query, s.query)
	}
	if err != nil {
		return &etl.FieldError{Path: []string{"query"}, Err: err}
	}
	op, err := gqlapi.Operation(doc, s.cfg.Operation)
	if err != nil {
		return &etl.FieldError{Path: []string{"operation"}, Err: err}
	}
	if op.Operation != ast.Query {
		return &etl.FieldError{Path: []string{"query"}, Err: fmt.Errorf("%s: operation %q is a %s: a source runs queries only", path, op.Name, op.Operation)}
	}
	cursor := op.VariableDefinitions.ForName(s.cfg.Pagination.CursorVariable)
	s.paged = cursor != nil
	if cursor != nil && cursor.Type.NonNull {
		return &etl.FieldError{Path: []string{"pagination", "cursor_variable"}, Err: fmt.Errorf("%s: $%s is non-null (%s): the first page is asked without a cursor, declare it nullable",
			path, cursor.Variable, cursor.Type)}
	}
	if inc := s.cfg.Incremental; inc != nil && op.VariableDefinitions.ForName(inc.Variable) == nil {
		return &etl.FieldError{Path: []string{"incremental", "variable"}, Err: fmt.Errorf("%s: the query declares no $%s", path, inc.Variable)}
	}
	for name := range s.cfg.Variables {
		if op.VariableDefinitions.ForName(name) == nil {
			return &etl.FieldError{Path: []string{"variables", name}, Err: fmt.Errorf("%s: the query declares no $%s", path, name)}
		}
		if name == s.cfg.Pagination.CursorVariable || (s.cfg.Incremental != nil && name == s.cfg.Incremental.Variable) {
			return &etl.FieldError{Path: []string{"variables", name}, Err: fmt.Errorf("$%s is set by the source (cursor or incremental value)", name)}
		}
	}
	if schema != nil {
		vars, err := s.jsonVariables(Position{Since: s.startValue()})
		if err != nil {
			return &etl.FieldError{Path: []string{"variables"}, Err: err}
		}
		if err := gqlapi.CheckVariables(schema, op, vars); err != nil {
			return &etl.FieldError{Path: []string{"variables"}, Err: err}
		}
	}
	return nil
}

func (s *Source) startValue() string {
	if s.cfg.Incremental != nil {
		return s.cfg.Incremental.Start
	}
	return ""
}

// jsonVariables are the variables of the page at pos, as JSON decodes
// them: the configured ones, the cursor and the incremental value (null
// when there is none yet).
func (s *Source) jsonVariables(pos Position) (map[string]any, error) {
	vars := make(map[string]any, len(s.cfg.Variables)+2)
	for k, v := range s.cfg.Variables {
		vars[k] = v
	}
	if s.paged && pos.Cursor != "" {
		vars[s.cfg.Pagination.CursorVariable] = pos.Cursor
	}
	if inc := s.cfg.Incremental; inc != nil && pos.Since != "" {
		vars[inc.Variable] = pos.Since
	}
	// YAML decodes numbers to Go's integer kinds; the wire and the
	// validator see JSON's.
	raw, err := json.Marshal(vars)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// Open resumes from env.Position: within a pass, or a new pass from the
// last pass's largest incremental value.
func (s *Source) Open(_ context.Context, env etl.SourceEnv) error {
	opts := s.cfg.Settings.Options(nil)
	opts.Origin = s.cfg.URL
	opts.Clock, opts.Logger = env.Clock, env.Logger
	c, err := httpapi.New(opts)
	if err != nil {
		return fmt.Errorf("graphql source: %w", err)
	}
	s.gql = gqlapi.New(c, s.cfg.URL, s.cfg.MaxWait, s.cfg.MaxRetries)
	s.env, s.done, s.pages, s.seen, s.clock = env, false, 0, map[string]bool{}, env.Clock
	if s.clock == nil {
		s.clock = etl.SystemClock{}
	}
	var prev Position
	if len(env.Position) > 0 && !env.FullRefresh {
		if err := json.Unmarshal(env.Position, &prev); err != nil {
			return fmt.Errorf("graphql source: bad position %s: %w", env.Position, err)
		}
	}
	if prev.More {
		s.pos = prev
		return nil
	}
	s.pos = Position{Since: prev.Max, Max: prev.Max}
	if s.pos.Since == "" {
		s.pos.Since, s.pos.Max = s.startValue(), s.startValue()
	}
	return nil
}

func (s *Source) logger() *slog.Logger {
	if s.env.Logger != nil {
		return s.env.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Next reads whole pages until a batch is full or the pass ends; each
// batch's position is past its last page, so a failed page (errors,
// a repeated cursor, max_pages) leaves the position at the last one
// loaded.
func (s *Source) Next(ctx context.Context) (*etl.Batch, error) {
	if s.done {
		return nil, etl.ErrEndOfInput
	}
	var b *etl.Batch
	for {
		if s.pages >= s.cfg.Pagination.MaxPages {
			return nil, fmt.Errorf("graphql source: %s: read max_pages (%d) pages in this run and the server still has a next page; raise pagination.max_pages if the API really has more",
				s.describe(), s.cfg.Pagination.MaxPages)
		}
		origin := s.describe()
		nodes, next, err := s.page(ctx)
		if err != nil {
			return nil, err
		}
		if s.schema == nil {
			s.schema, s.app.Cols = httpapi.InferSchema(nodes)
		}
		if b == nil {
			b = etl.NewBatch(s.schema, max(len(nodes), 16))
		}
		s.mark = ""
		for i, r := range nodes {
			s.appendRecord(b, r, origin, i)
		}
		if s.mark != "" && httpapi.Later(s.mark, next.Max) {
			next.Max = s.mark
		}
		s.pages++
		s.pos = next
		if !next.More {
			s.done = true
		}
		if s.done || b.Len() >= s.env.BatchSize {
			break
		}
	}
	raw, err := json.Marshal(s.pos)
	if err != nil {
		return nil, err
	}
	b.Position = raw
	return b, nil
}

func (s *Source) describe() string {
	if s.pos.Cursor != "" {
		return fmt.Sprintf("page %d (after cursor %s)", s.pages+1, s.gql.HTTP().Redactor().Redact(s.pos.Cursor))
	}
	return fmt.Sprintf("page %d", s.pages+1)
}

// page asks for the page at s.pos and returns its nodes and the position
// after it. Errors in the response fail it unless partial: warn and the
// connection is there; a response without the connection, a node that is
// not an object, a pageInfo missing or repeating a cursor fail it.
func (s *Source) page(ctx context.Context) ([]map[string]any, Position, error) {
	where := s.describe()
	red := s.gql.HTTP().Redactor()
	vars, err := s.jsonVariables(s.pos)
	if err != nil {
		return nil, Position{}, fmt.Errorf("graphql source: %s: variables: %w", where, err)
	}
	resp, err := s.gql.Do(ctx, s.query, s.cfg.Operation, vars)
	var gerr *gqlapi.ErrorsError
	switch {
	case errors.As(err, &gerr) && s.cfg.Partial == "warn" && resp.HasData():
		s.logger().Warn("graphql source: the response has errors; loading its data (partial: warn)", "page", where, "errors", gerr.Error())
	case err != nil:
		return nil, Position{}, fmt.Errorf("graphql source: %s: %w", where, err)
	}
	var data any
	dec := json.NewDecoder(bytes.NewReader(resp.Data))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		return nil, Position{}, fmt.Errorf("graphql source: %s: data is not JSON: %s", where, red.Redact(err.Error()))
	}
	conn, ok := httpapi.Lookup(data, s.cfg.Records)
	obj, isObj := conn.(map[string]any)
	if !ok || !isObj {
		return nil, Position{}, fmt.Errorf("graphql source: %s: data has no connection object at %q: %s", where, s.cfg.Records, red.Snippet(string(resp.Data), 200))
	}
	var items []any
	nodeOf := func(x any) any { return x }
	if edges, ok := obj["edges"].([]any); ok {
		items = edges
		nodeOf = func(x any) any {
			if e, ok := x.(map[string]any); ok {
				return e["node"]
			}
			return nil
		}
	} else if nodes, ok := obj["nodes"].([]any); ok {
		items = nodes
	} else {
		return nil, Position{}, fmt.Errorf("graphql source: %s: the connection at %q has neither edges nor nodes", where, s.cfg.Records)
	}
	out := make([]map[string]any, 0, len(items))
	for i, it := range items {
		n, ok := nodeOf(it).(map[string]any)
		if !ok {
			return nil, Position{}, fmt.Errorf("graphql source: %s: record %d is not an object", where, i+1)
		}
		out = append(out, n)
	}
	next := Position{Since: s.pos.Since, Max: s.pos.Max}
	if !s.paged {
		return out, next, nil
	}
	info, ok := obj["pageInfo"].(map[string]any)
	if !ok {
		return nil, Position{}, fmt.Errorf("graphql source: %s: the connection at %q has no pageInfo: select pageInfo { endCursor hasNextPage }", where, s.cfg.Records)
	}
	more, ok := info["hasNextPage"].(bool)
	if !ok {
		return nil, Position{}, fmt.Errorf("graphql source: %s: pageInfo.hasNextPage is not a boolean", where)
	}
	if !more {
		return out, next, nil
	}
	cursor, _ := info["endCursor"].(string)
	if cursor == "" {
		return nil, Position{}, fmt.Errorf("graphql source: %s: pageInfo says hasNextPage but has no endCursor", where)
	}
	if cursor == s.pos.Cursor || s.seen[cursor] {
		return nil, Position{}, fmt.Errorf("graphql source: %s: the next cursor %q was already read in this run: the server's pagination repeats", where, red.Redact(cursor))
	}
	s.seen[cursor] = true
	next.Cursor, next.More = cursor, true
	return out, next, nil
}

// appendRecord appends record i of the page; only a record that loaded
// (and whose value is not beyond max_future) moves the incremental mark.
func (s *Source) appendRecord(b *etl.Batch, r map[string]any, origin string, i int) {
	where := etl.Origin{Cursor: fmt.Sprintf("%s record %d", origin, i+1)}
	if !s.app.Append(b, r, where) {
		return
	}
	inc := s.cfg.Incremental
	if inc == nil {
		return
	}
	v, ok := httpapi.LookupString(r, inc.Field)
	if !ok {
		return
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.After(s.clock.Now().Add(inc.MaxFuture)) {
		s.logger().Warn("graphql source: an incremental value in the future does not move the mark", "origin", where.Cursor, "field", inc.Field, "value", v)
		return
	}
	if httpapi.Later(v, s.mark) {
		s.mark = v
	}
}

// Close releases nothing: each response is read whole.
func (s *Source) Close(context.Context) error { return nil }
