package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/nightjar-etl/nightjar/etl"
)

// ErrDailyLimit is returned when the API says the account's daily request
// allocation is spent: retrying would take hours, so the run stops with its
// position kept and a later run (after the reset) continues.
var ErrDailyLimit = errors.New("daily API limit reached")

// ErrRetriesExhausted is returned when a request still fails (5xx, network
// error, throttling) once the retry budget is spent.
var ErrRetriesExhausted = errors.New("retry budget exhausted")

// ErrWaitTooLong is returned when the server asks for a wait (Retry-After,
// a spent rate-limit window) that would take the request past max_wait:
// the run stops at once, with its position kept, rather than hang.
var ErrWaitTooLong = errors.New("the server asked for a wait longer than max_wait")

// ErrBodyTooLarge is returned when a response body is larger than max_body.
var ErrBodyTooLarge = errors.New("response body larger than max_body")

// Defaults of the client's bounds (the timeout, max_retries, max_wait and
// max_body keys).
const (
	DefaultTimeout    = 60 * time.Second
	DefaultMaxRetries = 6
	DefaultMaxWait    = 5 * time.Minute
	DefaultMaxBody    = 64 << 20
	// MinThrottleWait is the least wait after a 429, whatever its
	// Retry-After says (0, or a date in the past): a server answering
	// 429 with Retry-After: 0 forever is not hammered.
	MinThrottleWait = time.Second
)

// Verdict is what the client does with a response.
type Verdict int

// Verdicts of a Classifier.
const (
	// Accept hands the response to the caller.
	Accept Verdict = iota
	// Retry retries after the next wait of the backoff policy (5xx, 408).
	Retry
	// Throttle waits for Retry-After (or the backoff's next wait when
	// absent), pauses every request sharing the rate limit as long, and
	// retries.
	Throttle
	// Fail returns an error at once. A 401 or 403, or a daily limit
	// (ErrDailyLimit), is marked etl.Permanent, so that the run is not
	// retried either: refused credentials stay refused, and a spent daily
	// allocation lasts longer than any retry waits.
	Fail
)

// Classifier decides what to do with a response. For Fail it may return
// the error to report (wrapping ErrDailyLimit, say); nil means a
// *StatusError.
type Classifier func(status int, header http.Header, body []byte) (Verdict, error)

// DefaultClassify accepts 2xx, throttles on 429, retries 408 and 5xx
// except 501, and fails on anything else.
func DefaultClassify(status int, _ http.Header, _ []byte) (Verdict, error) {
	switch {
	case status >= 200 && status < 300:
		return Accept, nil
	case status == http.StatusTooManyRequests:
		return Throttle, nil
	case status == http.StatusRequestTimeout, status >= 500 && status != http.StatusNotImplemented:
		return Retry, nil
	}
	return Fail, nil
}

// Pace is what an API's rate-limit headers say: requests allowed per
// window and how many are left in the current one.
type Pace struct {
	Max       int
	Remaining int
	Window    time.Duration
}

// Pacer reads a response's rate-limit headers; ok is false when absent.
type Pacer func(h http.Header) (p Pace, ok bool)

// Options configure a Client.
type Options struct {
	// BaseURL is prefixed to relative request paths.
	BaseURL string
	Auth    Authorizer
	// Limit is the rate limit, shared by every client of one connection;
	// nil means unlimited.
	Limit *Limit
	// Origin is where credentials may be sent (scheme, host and port of
	// the URL); default BaseURL's. Without either, each request's own URL
	// is its origin, and only redirects are checked.
	Origin string
	// CrossOrigin is what a request to another origin (a next link, a
	// redirect) does: CrossOriginRefuse (the default) or CrossOriginStrip.
	CrossOrigin string
	// Timeout bounds one attempt; default 60 s.
	Timeout time.Duration
	// MaxRetries bounds the retries of one request (5xx, network errors
	// and 429s alike); default 6. Negative means none.
	MaxRetries int
	// MaxWait bounds the total time one request may spend waiting between
	// attempts (backoff, Retry-After, a paused rate limit); default 5
	// minutes. A wait the server asks for beyond it fails the request at
	// once with ErrWaitTooLong.
	MaxWait time.Duration
	// MaxBody bounds a response body, in bytes; default 64 MiB.
	MaxBody int64
	// Backoff is the policy of the waits between attempts; its zero
	// fields take etl.DefaultBackoff's (500 ms doubling to 30 s, ±50 %).
	Backoff  etl.Backoff
	Classify Classifier
	Pacer    Pacer
	Header   http.Header
	// Clock gives the time and the waits (etl.Sleep: a test's fake clock
	// advances at once). Default the system clock.
	Clock  etl.Clock
	Logger *slog.Logger
	// Secrets are removed from every error and log message.
	Secrets    []string
	HTTPClient *http.Client
}

// Client sends requests with rate limiting, retries and auth. It is safe
// for concurrent use.
type Client struct {
	opts   Options
	base   *url.URL
	origin string
	clock  etl.Clock
	log    *slog.Logger
	red    *Redactor
	http   *http.Client
}

// New returns a client; it does no I/O.
func New(opts Options) (*Client, error) {
	c := &Client{opts: opts, red: NewRedactor(opts.Secrets...)}
	if opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("base URL %q is not an absolute http(s) URL", c.red.Redact(opts.BaseURL))
		}
		c.base = u
		c.origin = Origin(u)
	}
	if opts.Origin != "" {
		u, err := url.Parse(opts.Origin)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("origin %q is not an absolute http(s) URL", c.red.Redact(opts.Origin))
		}
		c.origin = Origin(u)
	}
	switch opts.CrossOrigin {
	case "":
		c.opts.CrossOrigin = CrossOriginRefuse
	case CrossOriginRefuse, CrossOriginStrip:
	default:
		return nil, fmt.Errorf("cross_origin %q: want %s or %s", opts.CrossOrigin, CrossOriginRefuse, CrossOriginStrip)
	}
	if c.opts.Timeout <= 0 {
		c.opts.Timeout = DefaultTimeout
	}
	if c.opts.MaxRetries == 0 {
		c.opts.MaxRetries = DefaultMaxRetries
	}
	if c.opts.MaxWait <= 0 {
		c.opts.MaxWait = DefaultMaxWait
	}
	if c.opts.MaxBody <= 0 {
		c.opts.MaxBody = DefaultMaxBody
	}
	if c.opts.Classify == nil {
		c.opts.Classify = DefaultClassify
	}
	c.clock = etl.SystemClockOr(opts.Clock)
	c.log = opts.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	c.http = withRedirectCheck(hc)
	return c, nil
}

// Redactor returns the client's redactor, for callers that build messages
// from response bodies.
func (c *Client) Redactor() *Redactor { return c.red }

// Request is one API call.
type Request struct {
	Method string
	// Path is relative to the base URL, or an absolute URL (a next link).
	Path   string
	Query  url.Values
	Header http.Header
	// Body is sent as is on every attempt; JSON unless Header says
	// otherwise.
	Body []byte
	// Stream leaves an accepted response's body unread: the caller reads
	// Response.Reader (bounded by max_body) and closes it.
	Stream bool
}

// Response is a response the classifier accepted.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Reader is the unread body of a streamed request (see
	// Request.Stream), nil otherwise; the caller closes it.
	Reader io.ReadCloser
	// URL is the URL the response came from (after redirects), for
	// resolving relative links in it; it may hold a key in its query:
	// never print it.
	URL *url.URL
	// Attempts is how many attempts the request took.
	Attempts int
}

// StatusError is a response the classifier refused. Its message holds the
// method, the path (never the query, which may hold a key) and the start of
// the body with secrets removed.
type StatusError struct {
	Method string
	Path   string
	Status int
	Body   string
	err    error
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

// Unwrap returns the classifier's error (ErrDailyLimit, say), if any.
func (e *StatusError) Unwrap() error { return e.err }

// resolve builds the request URL and the secret-free name used in messages.
func (c *Client) resolve(r Request) (*url.URL, string, error) {
	u, err := url.Parse(r.Path)
	if err != nil {
		return nil, "", fmt.Errorf("bad request path: %s", c.red.Redact(err.Error()))
	}
	if !u.IsAbs() {
		if c.base == nil {
			return nil, "", fmt.Errorf("relative path %q and no base URL", c.red.Redact(r.Path))
		}
		ref := *u
		base := *c.base
		if !strings.HasSuffix(base.Path, "/") && !strings.HasPrefix(ref.Path, "/") {
			base.Path += "/"
		}
		if strings.HasPrefix(ref.Path, "/") {
			ref.Path = strings.TrimSuffix(base.Path, "/") + ref.Path
		} else {
			ref.Path = base.Path + ref.Path
		}
		u = base.ResolveReference(&ref)
	}
	if len(r.Query) > 0 {
		q := u.Query()
		for k, vs := range r.Query {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	return u, c.red.Redact(u.Path), nil
}

// Do sends r, waiting for the rate limit, and retries throttling, 5xx and
// network errors within the budget. It returns the accepted response or an
// error free of secrets; refused credentials (401, 403, an OAuth2 token
// request refused), daily limits and a request to another origin under
// cross_origin: refuse fail at once, marked etl.Permanent. Every wait
// (backoff, Retry-After, a paused rate limit) ends when ctx is done, and
// all of them together stay within max_wait.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	u, name, err := c.resolve(r)
	if err != nil {
		return nil, err
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	send := c.credentialsFor(u)
	if !send && c.opts.CrossOrigin == CrossOriginRefuse {
		return nil, etl.Permanent(fmt.Errorf("%s %s: %w", method, name, &CrossOriginError{Origin: c.origin, To: Origin(u)}))
	}
	bo := c.opts.Backoff.NewBackOff()
	var waited time.Duration
	retries := 0
	for attempt := 1; ; attempt++ {
		if c.opts.Limit != nil {
			w, why, err := c.opts.Limit.wait(ctx, c.clock, c.opts.MaxWait-waited)
			if errors.Is(err, errLimitTooLong) {
				return nil, c.tooLong(method, name, w, why)
			}
			if err != nil {
				return nil, fmt.Errorf("%s %s: wait for rate limit: %w", method, name, err)
			}
			waited += w
		}
		resp, netErr := c.attempt(ctx, method, u, r, send)
		var verdict Verdict
		var failErr error
		var wait time.Duration
		var cause string
		if netErr != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s %s: %w", method, name, ctx.Err())
			}
			if etl.IsPermanent(netErr) || errors.Is(netErr, ErrBodyTooLarge) {
				return nil, fmt.Errorf("%s %s: %w", method, name, netErr)
			}
			verdict, cause = Retry, c.red.Redact(netErr.Error())
		} else {
			c.pace(resp.Header)
			resp.Attempts = attempt
			verdict, failErr = c.opts.Classify(resp.Status, resp.Header, resp.Body)
			cause = fmt.Sprintf("HTTP %d", resp.Status)
		}
		if verdict != Accept && resp != nil && resp.Reader != nil {
			resp.Reader.Close()
		}
		switch verdict {
		case Accept:
			return resp, nil
		case Fail:
			err := &StatusError{Method: method, Path: name, Status: resp.Status, Body: c.snippet(resp.Body), err: failErr}
			if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden || errors.Is(failErr, ErrDailyLimit) {
				return nil, etl.Permanent(err)
			}
			return nil, err
		case Throttle:
			retries++
			if c.opts.MaxRetries < 0 || retries > c.opts.MaxRetries {
				return nil, c.exhausted(method, name, attempt, resp, netErr)
			}
			ra, ok := retryAfter(resp.Header, c.clock.Now())
			if ok {
				cause += ", Retry-After: " + resp.Header.Get("Retry-After")
				if waited+ra > c.opts.MaxWait {
					return nil, c.tooLong(method, name, ra, "Retry-After: "+resp.Header.Get("Retry-After"))
				}
				wait = max(ra, MinThrottleWait)
			} else {
				wait = max(bo.NextBackOff(), MinThrottleWait)
			}
			if c.opts.Limit != nil {
				c.opts.Limit.pause(c.clock.Now().Add(wait), cause)
			}
		case Retry:
			retries++
			if c.opts.MaxRetries < 0 || retries > c.opts.MaxRetries {
				return nil, c.exhausted(method, name, attempt, resp, netErr)
			}
			wait = bo.NextBackOff()
		}
		if waited+wait > c.opts.MaxWait {
			return nil, c.exhausted(method, name, attempt, resp, netErr)
		}
		waited += wait
		c.log.Warn("http retry", "method", method, "path", name, "cause", cause, "attempt", attempt, "wait", wait)
		if err := etl.Sleep(ctx, c.clock, wait); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, name, err)
		}
	}
}

// credentialsFor reports whether a request to u may carry credentials: it
// goes to the configured origin (any, when none is configured).
func (c *Client) credentialsFor(u *url.URL) bool {
	if c.origin == "" || Origin(u) == c.origin {
		return true
	}
	// Nothing to protect: no auth and no configured headers.
	return c.opts.Auth == nil && len(c.opts.Header) == 0
}

// tooLong is the error of a wait beyond max_wait: what the server asked
// for, and the bound.
func (c *Client) tooLong(method, name string, wait time.Duration, why string) error {
	return fmt.Errorf("%s %s: %w: asked to wait %s (%s), max_wait is %s; the run stops with its position kept",
		method, name, ErrWaitTooLong, wait.Round(time.Second), c.red.Redact(why), c.opts.MaxWait)
}

func (c *Client) exhausted(method, name string, attempts int, resp *Response, netErr error) error {
	if netErr != nil {
		return fmt.Errorf("%s %s: %w after %d attempts: %s", method, name, ErrRetriesExhausted, attempts, c.red.Redact(netErr.Error()))
	}
	return fmt.Errorf("%w after %d attempts: %w", ErrRetriesExhausted, attempts,
		&StatusError{Method: method, Path: name, Status: resp.Status, Body: c.snippet(resp.Body)})
}

// attempt sends one request, with credentials when send is set; a
// transport error comes back with the URL stripped (it may hold a key in
// its query).
func (c *Client) attempt(ctx context.Context, method string, u *url.URL, r Request, send bool) (_ *Response, err error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer func() {
		if err != nil || !r.Stream {
			cancel()
		}
	}()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(actx, method, u.String(), body)
	if err != nil {
		return nil, errors.New("build request")
	}
	before := map[string]bool{}
	for k, vs := range r.Header {
		req.Header[k] = vs
		before[k] = true
	}
	if r.Body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
		before["Content-Type"] = true
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
		before["Accept"] = true
	}
	h := &hop{origin: c.origin, strip: c.opts.CrossOrigin == CrossOriginStrip}
	if h.origin == "" {
		h.origin = Origin(u)
	}
	if send {
		for k, vs := range c.opts.Header {
			req.Header[k] = vs
		}
		if c.opts.Auth != nil {
			if err := c.opts.Auth.Authorize(ctx, req); err != nil {
				aerr := fmt.Errorf("authorize: %s", c.red.Redact(err.Error()))
				if refusedToken(err) {
					return nil, etl.Permanent(aerr)
				}
				return nil, aerr
			}
		}
		h.creds = credentialHeaders(before, req, c.opts.Header)
	}
	req = req.WithContext(withHop(actx, h))
	res, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var coe *CrossOriginError
		if errors.As(err, &coe) {
			return nil, etl.Permanent(err)
		}
		return nil, err
	}
	resp := &Response{Status: res.StatusCode, Header: res.Header, URL: res.Request.URL}
	limited := &capReader{r: res.Body, left: c.opts.MaxBody, max: c.opts.MaxBody}
	if r.Stream && res.StatusCode >= 200 && res.StatusCode < 300 {
		resp.Reader = &streamBody{capReader: limited, body: res.Body, cancel: cancel}
		return resp, nil
	}
	defer res.Body.Close()
	resp.Body, err = io.ReadAll(limited)
	if err != nil {
		if errors.Is(err, ErrBodyTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("read response: %w", err)
	}
	return resp, nil
}

// capReader reads at most max bytes and fails with ErrBodyTooLarge past
// them, so that a capped body is never mistaken for a short one.
type capReader struct {
	r         io.Reader
	left, max int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more tells a body of exactly max from a longer one.
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w (%d bytes; raise max_body)", ErrBodyTooLarge, c.max)
		}
		return c.r.Read(p[:0])
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// streamBody is a streamed response body: reading is bounded by max_body
// and the attempt's timeout; Close ends both.
type streamBody struct {
	*capReader
	body   io.Closer
	cancel context.CancelFunc
}

func (s *streamBody) Close() error {
	err := s.body.Close()
	s.cancel()
	return err
}

// refusedToken reports whether err is an OAuth2 token endpoint's refusal
// (invalid_grant, invalid_client: a 4xx other than 408 and 429), which no
// retry mends, rather than an outage.
func refusedToken(err error) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return false
	}
	code := re.Response.StatusCode
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// pace adapts the shared limit to the API's rate-limit headers: never
// faster than the API's own limit, and a pause when the window is spent.
func (c *Client) pace(h http.Header) {
	if c.opts.Pacer == nil || c.opts.Limit == nil {
		return
	}
	p, ok := c.opts.Pacer(h)
	if !ok {
		return
	}
	now := c.clock.Now()
	if p.Max > 0 && p.Window > 0 {
		c.opts.Limit.AtMost(now, float64(p.Max)/p.Window.Seconds())
	}
	if p.Remaining <= 0 && p.Window > 0 {
		c.opts.Limit.pause(now.Add(p.Window), fmt.Sprintf("rate-limit headers: 0 of %d requests left in a window of %s", p.Max, p.Window))
	}
}

// snippet is the start of a body for an error message. Secrets are removed
// before the cut, so a secret straddling it is not printed in part.
func (c *Client) snippet(body []byte) string {
	return c.red.Snippet(string(body), snippetLen)
}

// snippetLen is the most bytes of a response body an error quotes.
const snippetLen = 512

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		// A huge value would overflow a Duration into a negative one.
		return time.Duration(min(secs, float64(math.MaxInt64/time.Second)) * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// Sleep waits d through the client's clock (a fake clock's Sleep in
// tests), for callers that poll: a bulk job's state, say.
func (c *Client) Sleep(ctx context.Context, d time.Duration) error { return etl.Sleep(ctx, c.clock, d) }

// Now is the client's clock's time.
func (c *Client) Now() time.Time { return c.clock.Now() }
