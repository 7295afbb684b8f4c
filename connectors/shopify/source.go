package shopify

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/nightjar-etl/nightjar/connectors/internal/gqlapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

//go:embed queries/*.graphql
var queryFiles embed.FS

// resource is what the source can export: the bulk query's root field and
// where each child type's lines go back under their parent.
type resource struct {
	root     string
	children map[string]string // __typename → field of the parent
}

var resources = map[string]resource{
	"orders":    {root: "orders", children: map[string]string{"LineItem": "lineItems"}},
	"customers": {root: "customers"},
	"products":  {root: "products", children: map[string]string{"ProductVariant": "variants"}},
}

// Defaults of the source's bounds.
const (
	DefaultAPIVersion   = "2025-01"
	DefaultOverlap      = 10 * time.Minute
	DefaultRunningWait  = 10 * time.Minute
	DefaultPollInterval = 5 * time.Second
	DefaultBulkTimeout  = time.Hour
	DefaultMaxResult    = 10 << 30
	// maxLine bounds one line of the result.
	maxLine = 16 << 20
)

// Incremental makes each run export only what changed since the last.
type Incremental struct {
	// Overlap is how far before the last mark a run asks from, for
	// records whose update landed late; records already loaded at the
	// same updatedAt are skipped. Default 10 minutes.
	Overlap time.Duration `yaml:"overlap" doc:"how far before the last mark a run asks from, for records whose update landed late; records already loaded at the same updatedAt are skipped"`
	// Start is the updated_at of the first run; everything when empty.
	Start string `yaml:"start" doc:"the updated_at of the first run; everything when empty"`
}

// Config is the "shopify" source's config.
type Config struct {
	// Shop is the shop's name (mystore, or mystore.myshopify.com); the
	// API is at https://SHOP.myshopify.com unless base_url says otherwise.
	Shop             string `yaml:"shop" doc:"the shop's name (mystore, or mystore.myshopify.com); the API is at https://SHOP.myshopify.com unless base_url says otherwise"`
	httpapi.Settings `yaml:",inline"`
	// AccessToken is the Admin API access token (X-Shopify-Access-Token).
	AccessToken string `yaml:"access_token,required" doc:"the Admin API access token (X-Shopify-Access-Token)" secret:"true"`
	// APIVersion is the Admin API version; default 2025-01.
	APIVersion string `yaml:"api_version" doc:"the Admin API version; default 2025-01"`
	// Resource is orders, customers or products.
	Resource    string            `yaml:"resource,required" doc:"orders, customers or products"`
	Fields      map[string]string `yaml:"fields" doc:"the record fields to keep, with their types (string, int, float, bool, timestamp, json); by default the resource's standard fields"`
	Incremental *Incremental      `yaml:"incremental" doc:"reads only records updated since the last run (by updatedAt)"`
	// OnRunning is what a run does when a bulk query is already running
	// in the shop for this app (Shopify runs one at a time): wait (the
	// default, for at most running_wait) or refuse.
	OnRunning   string        `yaml:"on_running" doc:"what a run does when a bulk query is already running in the shop for this app (Shopify runs one at a time): wait (the default, for at most running_wait) or refuse"`
	RunningWait time.Duration `yaml:"running_wait" doc:"how long on_running: wait waits for another bulk query to finish"`
	// PollInterval is the time between polls of the operation; default 5 s.
	PollInterval time.Duration `yaml:"poll_interval" doc:"the time between polls of the operation; default 5 s"`
	// BulkTimeout bounds the wait for our operation to complete; default 1 h.
	BulkTimeout time.Duration `yaml:"bulk_timeout" doc:"bounds the wait for our operation to complete; default 1 h"`
	// MaxResult bounds the JSONL result's size in bytes; default 10 GiB.
	MaxResult int64 `yaml:"max_result" doc:"bounds the JSONL result's size in bytes; default 10 GiB"`
	// Schema is the Admin API schema as SDL: when given, every query the
	// source sends is checked against it at load.
	Schema string `yaml:"schema" doc:"the Admin API schema as SDL: when given, every query the source sends is checked against it at load"`
}

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{
			Type:    "shopify",
			Summary: "orders, customers or products of a Shopify shop through Admin API bulk operations, incremental by updated_at",
			Example: "source:\n  type: shopify\n  shop: mystore\n  access_token: \"${SHOPIFY_TOKEN}\"\n  resource: orders\n  incremental: { overlap: 10m }\n",
			Config:  func() any { return &Config{} },
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Source, error) { return New(*cfg.(*Config), env) },
	})
}

// Position is the mark (the largest updatedAt loaded) and the records
// loaded within the overlap window before it, by id, with the updatedAt
// they were loaded at.
type Position struct {
	Since string            `json:"since,omitempty"`
	Seen  map[string]string `json:"seen,omitempty"`
}

// Source exports one resource per run through a bulk operation.
type Source struct {
	cfg      Config
	res      resource
	endpoint string
	bulkDoc  string
	query    *ast.QueryDocument // the resource's bulk query

	gql    *gqlapi.Client
	files  *httpapi.Client
	env    etl.SourceEnv
	prev   Position
	schema *etl.Schema
	app    httpapi.RecordAppender

	// The exported records' batches not yet handed out, and the
	// position after the last of them.
	batches []*etl.Batch
	final   Position
	started bool
}

type record struct {
	obj  map[string]any
	line int
}

var _ etl.Source = (*Source)(nil)

// New checks the config and the queries (against schema: when given);
// it does no network I/O.
func New(cfg Config, env etl.BuildEnv) (*Source, error) {
	s := &Source{cfg: cfg}
	if err := cfg.Settings.Validate(false); err != nil {
		return nil, err
	}
	if cfg.Settings.AuthConfig.IsSet() {
		return nil, &etl.FieldError{Path: []string{"access_token"}, Err: errors.New("the Admin API takes access_token; other auth keys do not apply")}
	}
	var ok bool
	if s.res, ok = resources[cfg.Resource]; !ok {
		return nil, &etl.FieldError{Path: []string{"resource"}, Err: fmt.Errorf("%q: want orders, customers or products", cfg.Resource)}
	}
	base := cfg.BaseURL
	switch {
	case base != "" && cfg.Shop != "":
		return nil, &etl.FieldError{Path: []string{"shop"}, Err: errors.New("give shop or base_url, not both")}
	case base == "" && cfg.Shop == "":
		return nil, &etl.FieldError{Path: []string{"shop"}, Err: errors.New("required: the shop's name (mystore or mystore.myshopify.com)")}
	case base == "":
		host := strings.TrimSuffix(cfg.Shop, ".myshopify.com")
		if host == "" || strings.ContainsAny(host, "/:?#@. ") {
			return nil, &etl.FieldError{Path: []string{"shop"}, Err: fmt.Errorf("%q is not a shop name", cfg.Shop)}
		}
		base = "https://" + host + ".myshopify.com"
	}
	v := cmpOr(cfg.APIVersion, DefaultAPIVersion)
	if strings.ContainsAny(v, "/?#") {
		return nil, &etl.FieldError{Path: []string{"api_version"}, Err: fmt.Errorf("%q is not a version", v)}
	}
	s.endpoint = strings.TrimSuffix(base, "/") + "/admin/api/" + url.PathEscape(v) + "/graphql.json"
	s.cfg.BaseURL = ""
	switch cfg.OnRunning {
	case "":
		s.cfg.OnRunning = "wait"
	case "wait", "refuse":
	default:
		return nil, &etl.FieldError{Path: []string{"on_running"}, Err: fmt.Errorf("%q: want wait (the default) or refuse", cfg.OnRunning)}
	}
	for _, d := range []struct {
		key string
		v   *time.Duration
		def time.Duration
	}{{"running_wait", &s.cfg.RunningWait, DefaultRunningWait}, {"poll_interval", &s.cfg.PollInterval, DefaultPollInterval}, {"bulk_timeout", &s.cfg.BulkTimeout, DefaultBulkTimeout}} {
		if *d.v < 0 {
			return nil, &etl.FieldError{Path: []string{d.key}, Err: errors.New("negative")}
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if s.cfg.MaxResult < 0 {
		return nil, &etl.FieldError{Path: []string{"max_result"}, Err: errors.New("negative")}
	}
	if s.cfg.MaxResult == 0 {
		s.cfg.MaxResult = DefaultMaxResult
	}
	if inc := s.cfg.Incremental; inc != nil {
		if inc.Overlap < 0 {
			return nil, &etl.FieldError{Path: []string{"incremental", "overlap"}, Err: errors.New("negative")}
		}
		if inc.Overlap == 0 {
			inc.Overlap = DefaultOverlap
		}
		if inc.Start != "" {
			if _, err := time.Parse(time.RFC3339, inc.Start); err != nil {
				return nil, &etl.FieldError{Path: []string{"incremental", "start"}, Err: errors.New("want an RFC 3339 time, e.g. 2026-01-01T00:00:00Z")}
			}
		}
	}
	if len(cfg.Fields) > 0 {
		schema, cols, err := httpapi.FieldsSchema(cfg.Fields)
		if err != nil {
			return nil, err
		}
		s.schema, s.app.Cols = schema, cols
	}
	bulk, err := queryFiles.ReadFile("queries/bulk.graphql")
	if err != nil {
		return nil, err
	}
	s.bulkDoc = string(bulk)
	src, err := queryFiles.ReadFile("queries/" + cfg.Resource + ".graphql")
	if err != nil {
		return nil, err
	}
	if s.query, err = gqlapi.ParseQuery(cfg.Resource+".graphql", string(src)); err != nil {
		return nil, err
	}
	if cfg.Schema != "" {
		if err := s.checkQueries(filepath.Join(env.BaseDir, cfg.Schema)); err != nil {
			return nil, &etl.FieldError{Path: []string{"schema"}, Err: err}
		}
	}
	return s, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkQueries checks every query the source sends against the schema
// file: the bulk protocol's and the resource's bulk query (with a filter).
func (s *Source) checkQueries(path string) error {
	if filepath.IsAbs(s.cfg.Schema) {
		path = s.cfg.Schema
	}
	schema, err := gqlapi.LoadSchemaFile(path)
	if err != nil {
		return err
	}
	if _, err := gqlapi.Validate(schema, "bulk.graphql", s.bulkDoc); err != nil {
		return err
	}
	_, err = gqlapi.Validate(schema, s.cfg.Resource+".graphql", s.BulkQuery("2026-01-01T00:00:00Z"))
	return err
}

// BulkQuery is the resource's bulk query, filtered to records updated at
// or after since when since is set. The filter is set as the root field's
// query argument in the parsed document, which is then printed: no text
// is spliced into a query.
func (s *Source) BulkQuery(since string) string {
	doc := &ast.QueryDocument{}
	for _, op := range s.query.Operations {
		cp := *op
		if since != "" {
			cp.SelectionSet = withFilter(op.SelectionSet, s.res.root, "updated_at:>='"+since+"'")
		}
		doc.Operations = append(doc.Operations, &cp)
	}
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatQueryDocument(doc)
	return buf.String()
}

// withFilter copies set with the root field's query argument set to
// filter.
func withFilter(set ast.SelectionSet, root, filter string) ast.SelectionSet {
	out := make(ast.SelectionSet, len(set))
	for i, sel := range set {
		f, ok := sel.(*ast.Field)
		if !ok || f.Name != root {
			out[i] = sel
			continue
		}
		cp := *f
		cp.Arguments = nil
		for _, a := range f.Arguments {
			if a.Name != "query" {
				cp.Arguments = append(cp.Arguments, a)
			}
		}
		cp.Arguments = append(cp.Arguments, &ast.Argument{Name: "query", Value: &ast.Value{Kind: ast.StringValue, Raw: filter}})
		out[i] = &cp
	}
	return out
}

// Open resumes from the last mark.
func (s *Source) Open(_ context.Context, env etl.SourceEnv) error {
	opts := s.cfg.Settings.Options(nil)
	opts.Origin = s.endpoint
	opts.Auth = httpapi.HeaderAuth{Name: "X-Shopify-Access-Token", Value: s.cfg.AccessToken}
	opts.Secrets = append(opts.Secrets, s.cfg.AccessToken)
	opts.Clock, opts.Logger = env.Clock, env.Logger
	c, err := httpapi.New(opts)
	if err != nil {
		return fmt.Errorf("shopify source: %w", err)
	}
	s.gql = gqlapi.New(c, s.endpoint, s.cfg.MaxWait, s.cfg.MaxRetries)
	// The result lies on Shopify's storage, another origin: fetched
	// without the token, its signed URL being its credential.
	s.files, err = httpapi.New(httpapi.Options{Timeout: s.cfg.Timeout, MaxRetries: s.cfg.MaxRetries, MaxWait: s.cfg.MaxWait,
		MaxBody: s.cfg.MaxResult, Clock: env.Clock, Logger: env.Logger, Secrets: opts.Secrets})
	if err != nil {
		return fmt.Errorf("shopify source: %w", err)
	}
	s.env, s.prev, s.batches, s.started = env, Position{}, nil, false
	if len(env.Position) > 0 && !env.FullRefresh {
		if err := json.Unmarshal(env.Position, &s.prev); err != nil {
			return fmt.Errorf("shopify source: bad position %s: %w", env.Position, err)
		}
	}
	if s.prev.Since == "" && s.cfg.Incremental != nil {
		s.prev.Since = s.cfg.Incremental.Start
	}
	return nil
}

func (s *Source) logger() *slog.Logger {
	if s.env.Logger != nil {
		return s.env.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Next runs the export on its first call, then hands its records out in
// batches. Every batch but the last keeps the previous position: a run
// that stops midway exports again from the same mark.
func (s *Source) Next(ctx context.Context) (*etl.Batch, error) {
	if !s.started {
		if err := s.export(ctx); err != nil {
			return nil, fmt.Errorf("shopify source: %s: %w", s.cfg.Resource, err)
		}
		s.started = true
	}
	if len(s.batches) == 0 {
		return nil, etl.ErrEndOfInput
	}
	b := s.batches[0]
	s.batches = s.batches[1:]
	pos := s.prev
	if len(s.batches) == 0 {
		pos = s.final
	}
	raw, err := json.Marshal(pos)
	if err != nil {
		return nil, err
	}
	b.Position = raw
	return b, nil
}

// Close releases nothing: the result is read whole in Next.
func (s *Source) Close(context.Context) error { return nil }
