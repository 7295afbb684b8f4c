package gqlapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
)

// Error is one entry of a response's `errors` list.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Code is the error's extensions.code (THROTTLED, say), if any.
func (e Error) Code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

func (e Error) String() string {
	s := e.Message
	if len(e.Path) > 0 {
		parts := make([]string, len(e.Path))
		for i, p := range e.Path {
			parts[i] = fmt.Sprint(p)
		}
		s += " (at " + strings.Join(parts, ".") + ")"
	}
	if c := e.Code(); c != "" {
		s += " [" + c + "]"
	}
	return s
}

// ErrorsError is a response that carried `errors`: with HTTP 200 too, it
// is a failure unless the caller chose to take the partial data.
type ErrorsError struct {
	Errors []Error
	red    *httpapi.Redactor
}

func (e *ErrorsError) Error() string {
	msgs := make([]string, 0, min(len(e.Errors), 5))
	for i, g := range e.Errors {
		if i == 5 {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(e.Errors)-5))
			break
		}
		msgs = append(msgs, g.String())
	}
	return "the response has errors: " + e.red.Snippet(strings.Join(msgs, "; "), 1024)
}

// Response is a GraphQL response: data (null or absent when the request
// failed whole), errors and extensions.
type Response struct {
	Data       json.RawMessage `json:"data"`
	Errors     []Error         `json:"errors"`
	Extensions struct {
		Cost *Cost `json:"cost"`
	} `json:"extensions"`
}

// HasData reports whether the response carries a data object.
func (r *Response) HasData() bool {
	d := strings.TrimSpace(string(r.Data))
	return d != "" && d != "null"
}

// Cost is Shopify's query cost extension (also served by other APIs that
// copied it): what the query cost and the state of the bucket it is paid
// from.
type Cost struct {
	RequestedQueryCost float64 `json:"requestedQueryCost"`
	ActualQueryCost    float64 `json:"actualQueryCost"`
	ThrottleStatus     struct {
		MaximumAvailable   float64 `json:"maximumAvailable"`
		CurrentlyAvailable float64 `json:"currentlyAvailable"`
		RestoreRate        float64 `json:"restoreRate"`
	} `json:"throttleStatus"`
}

// Client posts GraphQL requests to one endpoint. It is safe for
// concurrent use.
type Client struct {
	http *httpapi.Client
	path string

	mu sync.Mutex
	// The bucket as last reported, and when, and the cost of the last
	// query: the next one waits until the bucket has refilled that much.
	bucket   *Cost
	bucketAt time.Time
	maxWait  time.Duration
	retries  int
}

// New sends to path (relative to the HTTP client's base URL, or absolute)
// through c. maxWait bounds a wait for the cost bucket to refill and
// maxRetries the retries of a THROTTLED answer (httpapi's defaults when 0).
func New(c *httpapi.Client, path string, maxWait time.Duration, maxRetries int) *Client {
	if maxWait <= 0 {
		maxWait = httpapi.DefaultMaxWait
	}
	switch {
	case maxRetries == 0:
		maxRetries = httpapi.DefaultMaxRetries
	case maxRetries < 0:
		maxRetries = 0
	}
	return &Client{http: c, path: path, maxWait: maxWait, retries: maxRetries}
}

// HTTP is the client requests go through.
func (c *Client) HTTP() *httpapi.Client { return c.http }

// ErrCostWaitTooLong is a cost bucket that would take longer than max_wait
// to refill for the next query.
var ErrCostWaitTooLong = errors.New("the query cost bucket would refill past max_wait")

// Do posts query with vars (running the named operation, or the
// document's only one) and returns the response. A response with
// `errors` is returned with an *ErrorsError (the response too, so a caller
// may take its partial data); a THROTTLED answer is retried after the cost
// bucket has refilled, within the retry budget. Before each request it
// waits while the bucket (from the last response's extensions.cost) holds
// less than the last query cost.
func (c *Client) Do(ctx context.Context, query, operation string, vars map[string]any) (*Response, error) {
	body, err := json.Marshal(struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName,omitempty"`
		Variables     map[string]any `json:"variables,omitempty"`
	}{query, operation, vars})
	if err != nil {
		return nil, fmt.Errorf("encode variables: %w", err)
	}
	for attempt := 0; ; attempt++ {
		if err := c.waitForBucket(ctx); err != nil {
			return nil, err
		}
		resp, err := c.http.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: c.path, Body: body})
		if err != nil {
			return nil, err
		}
		var r Response
		if err := json.Unmarshal(resp.Body, &r); err != nil {
			return nil, fmt.Errorf("POST %s: the response is not GraphQL JSON (%s): %s", c.http.Redactor().Redact(c.pathName()),
				httpapi.JSONProblem(err), c.http.Redactor().Snippet(string(resp.Body), 200))
		}
		if !r.HasData() && len(r.Errors) == 0 {
			return nil, fmt.Errorf("POST %s: the response has neither data nor errors: %s", c.http.Redactor().Redact(c.pathName()),
				c.http.Redactor().Snippet(string(resp.Body), 200))
		}
		c.note(r.Extensions.Cost)
		if len(r.Errors) == 0 {
			return &r, nil
		}
		if throttled(r.Errors) && attempt < c.retries {
			if !c.hasBucket() {
				// No cost extension to say how long: the backoff's least wait.
				if err := c.http.Sleep(ctx, httpapi.MinThrottleWait<<attempt); err != nil {
					return nil, err
				}
			}
			continue
		}
		return &r, &ErrorsError{Errors: r.Errors, red: c.http.Redactor()}
	}
}

func (c *Client) pathName() string {
	if i := strings.IndexByte(c.path, '?'); i >= 0 {
		return c.path[:i]
	}
	return c.path
}

func throttled(errs []Error) bool {
	for _, e := range errs {
		if e.Code() == "THROTTLED" {
			return true
		}
	}
	return false
}

// note records the bucket a response reported.
func (c *Client) note(cost *Cost) {
	if cost == nil || cost.ThrottleStatus.RestoreRate <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bucket, c.bucketAt = cost, c.http.Now()
}

func (c *Client) hasBucket() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bucket != nil
}

// CostWait is how long the next query waits for the bucket to refill: the
// last query's requested cost less what is available now, at the restore
// rate; 0 when nothing was reported.
func (c *Client) CostWait() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bucket == nil {
		return 0
	}
	st := c.bucket.ThrottleStatus
	need := max(c.bucket.RequestedQueryCost, c.bucket.ActualQueryCost)
	if st.MaximumAvailable > 0 {
		need = min(need, st.MaximumAvailable)
	}
	elapsed := c.http.Now().Sub(c.bucketAt).Seconds()
	avail := st.CurrentlyAvailable + elapsed*st.RestoreRate
	if avail >= need {
		return 0
	}
	secs := math.Ceil((need-avail)/st.RestoreRate*1000) / 1000
	return time.Duration(secs * float64(time.Second))
}

func (c *Client) waitForBucket(ctx context.Context) error {
	w := c.CostWait()
	if w <= 0 {
		return nil
	}
	if w > c.maxWait {
		return fmt.Errorf("%w: the next query needs a wait of %s, max_wait is %s; the run stops with its position kept",
			ErrCostWaitTooLong, w.Round(time.Second), c.maxWait)
	}
	return c.http.Sleep(ctx, w)
}
