package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// Config is the webhook target's config: url plus the shared HTTP keys
// (headers, token / basic / api_key / oauth2, rate_limit, timeout,
// max_retries, max_wait, max_body, cross_origin) and the records per
// request.
type Config struct {
	URL              string `yaml:"url,required" doc:"the URL each batch is POSTed to"`
	httpapi.Settings `yaml:",inline"`
	// BatchSize is the records per request; default 500. Each request of
	// a batch has its own key: "<batch key>-<part>".
	BatchSize int `yaml:"batch_size" doc:"the records per request; default 500"`
}

func init() {
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "webhook",
			Summary: "POSTs each batch as JSON ({\"records\": [...]}) with an Idempotency-Key per batch",
			Example: "targets:\n  - type: webhook\n    url: https://hooks.example.com/leads\n    token: \"${HOOK_TOKEN}\"\n    headers: { X-Source: nightjar }\n",
			Config:  func() any { return &Config{BatchSize: 500} },
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Target, error) { return New(*cfg.(*Config), env) },
	})
}

// Target posts batches to a URL.
type Target struct {
	cfg    Config
	client *httpapi.Client
	job    string
	name   string
	// Posts counts the requests that were answered 2xx.
	Posts int64
}

var _ etl.Target = (*Target)(nil)

// New validates cfg; it does no I/O.
func New(cfg Config, _ etl.BuildEnv) (*Target, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &etl.FieldError{Path: []string{"url"}, Err: errors.New("want an absolute http(s) URL")}
	}
	if cfg.BaseURL != "" {
		return nil, &etl.FieldError{Path: []string{"base_url"}, Err: errors.New("use url")}
	}
	if err := cfg.Settings.Validate(false); err != nil {
		return nil, err
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 500
	}
	if cfg.BatchSize < 1 {
		return nil, &etl.FieldError{Path: []string{"batch_size"}, Err: fmt.Errorf("%d: want at least 1", cfg.BatchSize)}
	}
	return &Target{cfg: cfg}, nil
}

// Open builds the client; it sends nothing.
func (t *Target) Open(_ context.Context, env etl.TargetEnv) error {
	opts := t.cfg.Settings.Options(nil)
	opts.Clock, opts.Logger = env.Clock, env.Logger
	// Credentials go only to the hook's origin: a redirect elsewhere is
	// refused, or followed without them (cross_origin: strip).
	opts.Origin = t.cfg.URL
	opts.Secrets = t.secrets()
	c, err := httpapi.New(opts)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	t.client, t.job, t.name = c, env.Job, env.Name
	return nil
}

// secrets are the values no message may show: the auth and header
// values, and the hook's URL, which often is the secret (a path or a key
// in the query).
func (t *Target) secrets() []string {
	secrets := append(t.cfg.Settings.Secrets(), t.cfg.URL)
	if u, err := url.Parse(t.cfg.URL); err == nil {
		secrets = append(secrets, u.RequestURI())
		if len(u.Path) > 1 {
			secrets = append(secrets, u.Path)
		}
		for _, vs := range u.Query() {
			secrets = append(secrets, vs...)
		}
	}
	return secrets
}

// Write posts the batch, BatchSize records per request, each with an
// Idempotency-Key derived from the job, the target and the batch key.
func (t *Target) Write(ctx context.Context, b *etl.Batch) error {
	key := IdempotencyKey(t.job, t.name, b)
	for part, start := 0, 0; start < b.Len(); part, start = part+1, start+t.cfg.BatchSize {
		body := t.body(b, start)
		hdr := http.Header{}
		hdr.Set("Idempotency-Key", fmt.Sprintf("%s-%d", key, part))
		if _, err := t.client.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: t.cfg.URL, Header: hdr, Body: body}); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		t.Posts++
	}
	return nil
}

// body is the request of the BatchSize records of b from row start on:
// {"records": [...]}.
func (t *Target) body(b *etl.Batch, start int) []byte {
	end := min(start+t.cfg.BatchSize, b.Len())
	body := make([]byte, 0, 128*(end-start))
	body = append(body, `{"records":[`...)
	for i := start; i < end; i++ {
		if i > start {
			body = append(body, ',')
		}
		body = append(body, b.RowJSON(i)...)
	}
	return append(body, "]}"...)
}

var _ etl.DryRunner = (*Target)(nil)

// DryRun tells the POSTs the batch would take, with the first one's body;
// it sends nothing. The URL's path and query, which may be the secret,
// are masked like every auth and header value.
func (t *Target) DryRun(_ context.Context, _ etl.TargetEnv, b *etl.Batch) ([]string, error) {
	red := httpapi.NewRedactor(t.secrets()...)
	d := httpapi.DryRun{Method: http.MethodPost, Path: t.cfg.URL, Records: b.Len(),
		Requests: (b.Len() + t.cfg.BatchSize - 1) / t.cfg.BatchSize}
	if u, err := url.Parse(t.cfg.URL); err == nil {
		// The origin is no secret: only what follows it is masked.
		d.Path = u.Scheme + "://" + u.Host + red.Redact(u.RequestURI())
	}
	if b.Len() > 0 {
		d.Body = t.body(b, 0)
	}
	return d.Lines(red), nil
}

// IdempotencyKey is the same for a batch and its replay (see etl.BatchKey)
// and differs between jobs and targets.
func IdempotencyKey(job, target string, b *etl.Batch) string {
	sum := sha256.Sum256([]byte(job + "\x00" + target + "\x00" + etl.BatchKey(b)))
	return hex.EncodeToString(sum[:16])
}

// Durability: a batch is durable once the receiver answered 2xx.
func (t *Target) Durability() etl.Durability { return etl.DurablePerBatch }

// Commit does nothing.
func (t *Target) Commit(context.Context) error { return nil }

// Close does nothing.
func (t *Target) Close() error { return nil }
