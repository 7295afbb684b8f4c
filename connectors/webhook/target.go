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
	URL              string `yaml:"url,required"`
	httpapi.Settings `yaml:",inline"`
	// BatchSize is the records per request; default 500. Each request of
	// a batch has its own key: "<batch key>-<part>".
	BatchSize int `yaml:"batch_size"`
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
	// A hook URL often is the secret (a path or a key in the query).
	opts.Secrets = append(opts.Secrets, t.cfg.URL)
	if u, err := url.Parse(t.cfg.URL); err == nil {
		opts.Secrets = append(opts.Secrets, u.RequestURI())
		if len(u.Path) > 1 {
			opts.Secrets = append(opts.Secrets, u.Path)
		}
		for _, vs := range u.Query() {
			opts.Secrets = append(opts.Secrets, vs...)
		}
	}
	c, err := httpapi.New(opts)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	t.client, t.job, t.name = c, env.Job, env.Name
	return nil
}

// Write posts the batch, BatchSize records per request, each with an
// Idempotency-Key derived from the job, the target and the batch key.
func (t *Target) Write(ctx context.Context, b *etl.Batch) error {
	key := IdempotencyKey(t.job, t.name, b)
	for part, start := 0, 0; start < b.Len(); part, start = part+1, start+t.cfg.BatchSize {
		end := min(start+t.cfg.BatchSize, b.Len())
		body := make([]byte, 0, 128*(end-start))
		body = append(body, `{"records":[`...)
		for i := start; i < end; i++ {
			if i > start {
				body = append(body, ',')
			}
			body = append(body, b.RowJSON(i)...)
		}
		body = append(body, "]}"...)
		hdr := http.Header{}
		hdr.Set("Idempotency-Key", fmt.Sprintf("%s-%d", key, part))
		if _, err := t.client.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: t.cfg.URL, Header: hdr, Body: body}); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		t.Posts++
	}
	return nil
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
