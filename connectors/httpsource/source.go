package httpsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// ConnConfig is an "http" connection: the shared HTTP keys (base_url,
// token / basic / api_key / oauth2, rate_limit, timeout, max_retries,
// max_wait, headers).
type ConnConfig struct {
	httpapi.Settings `yaml:",inline"`
}

// Pagination says how to get the next page.
type Pagination struct {
	// Type is none, cursor, next_link, offset or page.
	Type string `yaml:"type" doc:"none, cursor, next_link, offset or page"`
	// Param is the query parameter carrying the cursor, offset or page;
	// default cursor, offset, page.
	Param string `yaml:"param" doc:"the query parameter carrying the cursor, offset or page; default cursor, offset, page"`
	// CursorPath is where the next cursor is in the body (cursor).
	CursorPath string `yaml:"cursor_path" doc:"where the next cursor is in the body (cursor)"`
	// NextPath is where the next page's URL is in the body (next_link);
	// empty means the Link header's rel="next".
	NextPath string `yaml:"next_path" doc:"where the next page's URL is in the body (next_link); empty means the Link header's rel=\"next\""`
	// LimitParam and PageSize ask for pages of that size (offset and page
	// stop at a short page).
	LimitParam string `yaml:"limit_param" doc:"the query parameter asking for page_size records per page"`
	PageSize   int    `yaml:"page_size" doc:"the page size asked for with limit_param; offset and page stop at a short page"`
	// StartPage is the first page's number (page); default 1.
	StartPage int `yaml:"start_page" doc:"the first page's number (page); default 1"`
	// MaxPages bounds the pages one run reads; default 10,000. A server
	// with more fails the run (position kept) rather than loop forever.
	MaxPages int `yaml:"max_pages" doc:"bounds the pages one run reads; default 10,000"`
}

// DefaultMaxPages is the default of pagination.max_pages.
const DefaultMaxPages = 10000

// DefaultMaxFuture is the default of incremental.max_future.
const DefaultMaxFuture = 24 * time.Hour

// Incremental reads only what changed since the last run.
type Incremental struct {
	// Field is the records' field holding their update time (or a
	// growing number).
	Field string `yaml:"field,required" doc:"the records' field holding their update time (or a growing number)"`
	// Param is the query parameter the last seen value is sent in.
	Param string `yaml:"param,required" doc:"the query parameter the last seen value is sent in"`
	// Start is the value sent on the first run; none when empty.
	Start string `yaml:"start" doc:"the value sent on the first run; none when empty"`
	// MaxFuture is how far past now a timestamp may be and still become
	// the mark (the value the next run asks from); default 24 h. A later
	// one (a record dated 9999-12-31) is loaded, but does not move the
	// mark, and is logged.
	MaxFuture time.Duration `yaml:"max_future" doc:"how far past now a timestamp may be and still become the mark (the value the next run asks from); default 24 h"`
}

// Config is the "http" source's config.
type Config struct {
	// URL is absolute, or a path below the connection's base_url.
	URL              string `yaml:"url,required" doc:"absolute, or a path below the connection's base_url"`
	httpapi.Settings `yaml:",inline"`
	Query            map[string]string `yaml:"query" doc:"query parameters sent with every request"`
	// Records is the dotted path of the records array in the body; empty
	// when the body is the array.
	Records string `yaml:"records" doc:"the dotted path of the records array in the body; empty when the body is the array"`
	// Fields gives the record fields to keep and their types (string,
	// int, float, bool, timestamp, json); by default every field of the
	// first page, typed from its JSON values.
	Fields      map[string]string `yaml:"fields" doc:"the record fields to keep and their types (string, int, float, bool, timestamp, json); by default every field of the first page, typed from its JSON values"`
	Pagination  Pagination        `yaml:"pagination" doc:"how the next page is found: none, cursor, next_link, offset or page"`
	Incremental *Incremental      `yaml:"incremental" doc:"reads only records changed since the last run, through a query parameter"`
}

func init() {
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{
			Type:    "http",
			Summary: "an HTTP JSON API: base URL, auth, rate limit and retries shared by its sources",
			Example: "connections:\n  bots:\n    type: http\n    base_url: https://api.chatbot.example\n    token: \"${BOT_TOKEN}\"\n    rate_limit: { requests: 10, per: 1s }\n",
			Config:  func() any { return &ConnConfig{} },
		},
		Validate: func(cfg any, _ string) error {
			c, ok := cfg.(*ConnConfig)
			if !ok {
				return fmt.Errorf("http connection: config is %T, want *ConnConfig", cfg)
			}
			return c.Validate(true)
		},
	})
	spec := etl.Spec{
		Type:    "http",
		Summary: "records from a paginated JSON API, incremental by an updated-since parameter",
		Example: "source:\n  type: http\n  url: https://forms.example.com/api/submissions\n  token: \"${FORMS_TOKEN}\"\n  records: data\n  pagination: { type: cursor, param: after, cursor_path: paging.next }\n  incremental: { field: updated_at, param: updated_since }\n",
		Config:  func() any { return &Config{} },
	}
	etl.RegisterSource(etl.SourceSpec{Spec: spec, New: func(cfg any, env etl.BuildEnv) (etl.Source, error) { return New(*cfg.(*Config), env) }})
	spec.Type = "http/http"
	spec.Example = "source:\n  type: http\n  connection: bots\n  url: /v1/conversations\n  records: items\n  pagination: { type: next_link, next_path: links.next }\n"
	etl.RegisterSource(etl.SourceSpec{Spec: spec, New: func(cfg any, env etl.BuildEnv) (etl.Source, error) { return New(*cfg.(*Config), env) }})
}

// Position is where the source resumes: the pass's incremental value
// (Since), the largest value seen in it (Max), and the next page of the
// pass; a finished pass has no next page, and the next run starts a new
// pass from Max.
type Position struct {
	Since  string `json:"since,omitempty"`
	Max    string `json:"max,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	Next   string `json:"next,omitempty"`
	Offset int64  `json:"offset,omitempty"`
	Page   int64  `json:"page,omitempty"`
	More   bool   `json:"more,omitempty"`
}

// Source reads pages into batches.
type Source struct {
	cfg     Config
	conn    *ConnConfig
	connKey any
	schema  *etl.Schema
	app     httpapi.RecordAppender

	client *httpapi.Client
	env    etl.SourceEnv
	clock  etl.Clock
	pos    Position
	done   bool
	pages  int64
	// seen holds the cursors, links and page digests read in this run,
	// to stop a server whose pagination loops.
	seen map[string]bool
	// mark is the largest incremental value of the page being read, of
	// records that loaded; future counts the values ignored as too far
	// in the future.
	mark   string
	future int
}

var _ etl.Source = (*Source)(nil)

// New validates cfg; it does no I/O.
func New(cfg Config, env etl.BuildEnv) (*Source, error) {
	s := &Source{cfg: cfg}
	if env.Connection != nil {
		c, ok := env.Connection.Config.(*ConnConfig)
		if !ok {
			return nil, fmt.Errorf("connection %s is not an http connection", env.Connection.Name)
		}
		s.conn, s.connKey = c, env.Connection
		if cfg.Settings.IsSet() || cfg.BaseURL != "" || cfg.RateLimit.Requests != 0 {
			return nil, &etl.FieldError{Path: []string{"url"}, Err: errors.New("base_url, auth and rate_limit come from the connection")}
		}
	} else {
		if err := cfg.Settings.Validate(false); err != nil {
			return nil, err
		}
		if cfg.BaseURL != "" {
			return nil, &etl.FieldError{Path: []string{"base_url"}, Err: errors.New("give the whole URL in url (base_url is for connections)")}
		}
		if u, err := url.Parse(cfg.URL); err != nil || !u.IsAbs() {
			return nil, &etl.FieldError{Path: []string{"url"}, Err: errors.New("want an absolute http(s) URL (or a connection with base_url)")}
		}
	}
	p := &s.cfg.Pagination
	switch p.Type {
	case "", "none":
		p.Type = "none"
	case "cursor":
		if p.CursorPath == "" {
			return nil, &etl.FieldError{Path: []string{"pagination", "cursor_path"}, Err: errors.New("required for cursor pagination: where the next cursor is in the body")}
		}
		p.Param = cmpOr(p.Param, "cursor")
	case "next_link":
	case "offset":
		p.Param = cmpOr(p.Param, "offset")
	case "page":
		p.Param = cmpOr(p.Param, "page")
		if p.StartPage == 0 {
			p.StartPage = 1
		}
	default:
		return nil, &etl.FieldError{Path: []string{"pagination", "type"}, Err: fmt.Errorf("%q: want none, cursor, next_link, offset or page", p.Type)}
	}
	if (p.Type == "offset" || p.Type == "page") && (p.PageSize <= 0 || p.LimitParam == "") {
		return nil, &etl.FieldError{Path: []string{"pagination", "page_size"}, Err: errors.New("offset and page pagination need page_size and limit_param")}
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
	return s, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Open resumes from env.Position: within a pass, or a new pass from the
// last pass's largest incremental value.
func (s *Source) Open(_ context.Context, env etl.SourceEnv) error {
	settings := &s.cfg.Settings
	var key any
	if s.conn != nil {
		settings, key = &s.conn.Settings, s.connKey
	}
	opts := settings.Options(key)
	for k, v := range s.cfg.Headers {
		if opts.Header == nil {
			opts.Header = map[string][]string{}
		}
		opts.Header.Set(k, v)
		// A source's own headers are secrets like the connection's.
		opts.Secrets = append(opts.Secrets, v)
	}
	if s.conn == nil {
		// Credentials go only where the source's url points.
		opts.Origin = s.cfg.URL
	}
	opts.Clock, opts.Logger = env.Clock, env.Logger
	c, err := httpapi.New(opts)
	if err != nil {
		return fmt.Errorf("http source: %w", err)
	}
	s.client, s.env, s.done, s.pages, s.seen = c, env, false, 0, map[string]bool{}
	s.clock = env.Clock
	if s.clock == nil {
		s.clock = etl.SystemClock{}
	}
	var prev Position
	if len(env.Position) > 0 && !env.FullRefresh {
		if err := json.Unmarshal(env.Position, &prev); err != nil {
			return fmt.Errorf("http source: bad position %s: %w", env.Position, err)
		}
	}
	if inc := s.cfg.Incremental; inc != nil && prev.Max != "" && s.tooLate(prev.Max) {
		s.logger().Warn("http source: the incremental mark is in the future: records updated before it are not read; reset the job's state once the source's data is mended",
			"field", inc.Field, "mark", prev.Max, "max_future", inc.MaxFuture)
	}
	if prev.More {
		s.pos = prev
		return nil
	}
	s.pos = Position{Since: prev.Max, Max: prev.Max}
	if s.pos.Since == "" && s.cfg.Incremental != nil {
		s.pos.Since, s.pos.Max = s.cfg.Incremental.Start, s.cfg.Incremental.Start
	}
	if s.cfg.Pagination.Type == "page" {
		s.pos.Page = int64(s.cfg.Pagination.StartPage)
	}
	return nil
}

// Next reads pages until a batch is full or the pass ends. A page that
// fails (no records array, a body past max_body, a loop) fails the call:
// the pass does not end, and the position stays at the last batch.
func (s *Source) Next(ctx context.Context) (*etl.Batch, error) {
	if s.done {
		return nil, etl.ErrEndOfInput
	}
	var b *etl.Batch
	for {
		if s.pages >= int64(s.cfg.Pagination.MaxPages) {
			return nil, fmt.Errorf("http source: %s: read max_pages (%d) pages in this run and the server still gives a next page; raise pagination.max_pages if the API really has more",
				s.describe(), s.cfg.Pagination.MaxPages)
		}
		origin := s.describe()
		var buffered []map[string]any
		next, err := s.readPage(ctx, &b, func(i int, r map[string]any) {
			if s.schema == nil {
				buffered = append(buffered, r) // typed from the whole first page
				return
			}
			if b == nil {
				b = etl.NewBatch(s.schema, 16)
			}
			s.appendRecord(b, r, origin, i)
		}, func() { buffered = nil })
		if err != nil {
			return nil, err
		}
		if s.schema == nil {
			s.infer(buffered)
		}
		if b == nil {
			b = etl.NewBatch(s.schema, max(len(buffered), 16))
		}
		for i, r := range buffered {
			s.appendRecord(b, r, origin, i)
		}
		if s.mark != "" && later(s.mark, next.Max) {
			next.Max = s.mark
		}
		if s.future > 0 {
			s.logger().Warn("http source: incremental values in the future do not move the mark", "origin", origin,
				"field", s.cfg.Incremental.Field, "records", s.future, "max_future", s.cfg.Incremental.MaxFuture)
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

// readPage reads the page at s.pos into *b through add, and reads it again
// when its body was cut off mid-read (a dropped connection, the attempt's
// timeout), within the retry budget: the rows and rejects of the cut read
// are taken out of the batch first, and reset forgets what add buffered.
func (s *Source) readPage(ctx context.Context, b **etl.Batch, add func(i int, r map[string]any), reset func()) (Position, error) {
	rows, rejects := 0, 0
	if *b != nil {
		rows, rejects = (*b).Len(), len((*b).Rejects)
	}
	bo := etl.DefaultBackoff.NewBackOff()
	for retry := 0; ; retry++ {
		s.mark, s.future = "", 0
		next, err := s.page(ctx, add)
		if err == nil || !cutOff(err) || ctx.Err() != nil || retry >= s.maxRetries() {
			return next, err
		}
		if *b != nil {
			keep := make([]bool, (*b).Len())
			for i := range rows {
				keep[i] = true
			}
			(*b).Keep(keep)
			(*b).Rejects = (*b).Rejects[:rejects]
		}
		reset()
		wait := bo.NextBackOff()
		s.logger().Warn("http source: page cut off, reading it again", "page", s.describe(), "cause", s.client.Redactor().Redact(err.Error()), "wait", wait)
		if err := s.client.Sleep(ctx, wait); err != nil {
			return Position{}, fmt.Errorf("http source: %s: %w", s.describe(), err)
		}
	}
}

// cutOff reports whether a page failed because its body stopped short (a
// dropped connection, a timeout while reading), which reading it again may
// mend, rather than because of what it held.
func cutOff(err error) bool {
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}

// maxRetries is the retry budget of the source's settings.
func (s *Source) maxRetries() int {
	n := s.cfg.MaxRetries
	if s.conn != nil {
		n = s.conn.MaxRetries
	}
	switch {
	case n < 0:
		return 0
	case n == 0:
		return httpapi.DefaultMaxRetries
	}
	return n
}

func (s *Source) logger() *slog.Logger {
	if s.env.Logger != nil {
		return s.env.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// tooLate reports whether an incremental value is a time further in the
// future than max_future allows.
func (s *Source) tooLate(v string) bool {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return false
	}
	return t.After(s.clock.Now().Add(s.cfg.Incremental.MaxFuture))
}

// describe names the page being read, for origins.
func (s *Source) describe() string {
	switch s.cfg.Pagination.Type {
	case "cursor":
		if s.pos.Cursor != "" {
			return "cursor " + s.client.Redactor().Redact(s.pos.Cursor)
		}
	case "next_link":
		// The link's path only: its query may hold a signature or a key.
		if s.pos.Next != "" {
			return fmt.Sprintf("page %d (%s)", s.pages+1, s.client.Redactor().Redact(linkPath(s.pos.Next)))
		}
	case "offset":
		return "offset " + strconv.FormatInt(s.pos.Offset, 10)
	case "page":
		return "page " + strconv.FormatInt(s.pos.Page, 10)
	}
	return "page 1"
}

// page fetches the page at s.pos, hands its records to add as they are
// decoded, and returns the position after it. It fails on a body without
// the records array, and on pagination that repeats itself.
func (s *Source) page(ctx context.Context, add func(i int, r map[string]any)) (Position, error) {
	req := httpapi.Request{Path: s.cfg.URL, Query: url.Values{}, Stream: true}
	for k, v := range s.cfg.Query {
		req.Query.Set(k, v)
	}
	p := s.cfg.Pagination
	if inc := s.cfg.Incremental; inc != nil && s.pos.Since != "" {
		req.Query.Set(inc.Param, s.pos.Since)
	}
	if p.LimitParam != "" && p.PageSize > 0 {
		req.Query.Set(p.LimitParam, strconv.Itoa(p.PageSize))
	}
	switch p.Type {
	case "cursor":
		if s.pos.Cursor != "" {
			req.Query.Set(p.Param, s.pos.Cursor)
		}
	case "next_link":
		if s.pos.Next != "" {
			// The link carries every parameter itself.
			req = httpapi.Request{Path: s.pos.Next, Stream: true}
		}
	case "offset":
		req.Query.Set(p.Param, strconv.FormatInt(s.pos.Offset, 10))
	case "page":
		req.Query.Set(p.Param, strconv.FormatInt(s.pos.Page, 10))
	}
	where := s.describe()
	resp, err := s.client.Do(ctx, req)
	if err != nil {
		return Position{}, fmt.Errorf("http source: %s: %w", where, err)
	}
	defer resp.Reader.Close()
	if resp.URL != nil {
		s.seen["link "+resp.URL.String()] = true
	}
	digest := sha256.New()
	n := 0
	var recErr error
	body, err := decodePage(resp.Reader, s.cfg.Records, func(i int, raw json.RawMessage) error {
		digest.Write(raw)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var r map[string]any
		if err := dec.Decode(&r); err != nil || r == nil {
			recErr = fmt.Errorf("record %d is not an object", i+1)
			return recErr
		}
		add(i, r)
		n++
		return nil
	})
	switch {
	case recErr != nil:
		return Position{}, fmt.Errorf("http source: %s: %w", where, recErr)
	case errors.Is(err, errNoRecords):
		shown, _ := json.Marshal(body)
		what := "the body is not an array of records"
		if s.cfg.Records != "" {
			what = fmt.Sprintf("the body has no %q array", s.cfg.Records)
		}
		return Position{}, fmt.Errorf("http source: %s: %s (only an empty array ends the pages): %s",
			where, what, s.client.Redactor().Snippet(string(shown), 200))
	case errors.Is(err, httpapi.ErrBodyTooLarge):
		return Position{}, fmt.Errorf("http source: %s: %w", where, err)
	case cutOff(err):
		return Position{}, fmt.Errorf("http source: %s: read body: %w", where, err)
	case err != nil:
		return Position{}, fmt.Errorf("http source: %s: response is not JSON: %s", where, s.client.Redactor().Redact(err.Error()))
	}
	if n > 0 {
		key := "page " + hex.EncodeToString(digest.Sum(nil))
		if s.seen[key] {
			return Position{}, fmt.Errorf("http source: %s: the server sent the same records again: its pagination repeats (does it ignore %s?)", where, s.paramName())
		}
		s.seen[key] = true
	}
	next := Position{Since: s.pos.Since, Max: s.pos.Max}
	switch p.Type {
	case "cursor":
		if c, ok := httpapi.LookupString(body, p.CursorPath); ok && n > 0 {
			if s.seen["cursor "+c] || c == s.pos.Cursor {
				return Position{}, fmt.Errorf("http source: %s: the next cursor %q was already read in this run: the server's pagination repeats", where, s.client.Redactor().Redact(c))
			}
			s.seen["cursor "+c] = true
			next.Cursor, next.More = c, true
		}
	case "next_link":
		link, ok := "", false
		if p.NextPath != "" {
			link, ok = httpapi.LookupString(body, p.NextPath)
		} else {
			link, ok = linkNext(resp.Header.Values("Link"))
		}
		if ok && n > 0 {
			abs, err := resolveLink(resp.URL, link)
			if err != nil {
				return Position{}, fmt.Errorf("http source: %s: bad next link: %s", where, s.client.Redactor().Redact(err.Error()))
			}
			if s.seen["link "+abs] {
				return Position{}, fmt.Errorf("http source: %s: the next link (to %s) was already read in this run: the server's pagination repeats", where, s.client.Redactor().Redact(linkPath(abs)))
			}
			next.Next, next.More = abs, true
		}
	case "offset":
		if n >= p.PageSize {
			next.Offset, next.More = s.pos.Offset+int64(n), true
		}
	case "page":
		if n >= p.PageSize {
			next.Page, next.More = s.pos.Page+1, true
		}
	}
	return next, nil
}

// paramName names what moves the pages, for errors.
func (s *Source) paramName() string {
	switch s.cfg.Pagination.Type {
	case "next_link":
		return "its own next links"
	case "none":
		return "pagination"
	}
	return "the " + s.cfg.Pagination.Param + " parameter"
}

// linkPath is a link's path, for messages: its query may hold a key.
func linkPath(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return "an unparsable link"
	}
	return u.Path
}

// resolveLink makes a next link absolute against the URL of the page it
// came in (RFC 8288: relative to the request URL).
func resolveLink(base *url.URL, link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", err
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	return u.String(), nil
}

// later compares incremental values (httpapi.Later).
func later(a, b string) bool { return httpapi.Later(a, b) }

// linkNext finds rel="next" in Link headers.
func linkNext(values []string) (string, bool) {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			segs := strings.Split(part, ";")
			target := strings.TrimSpace(segs[0])
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range segs[1:] {
				p = strings.ReplaceAll(strings.TrimSpace(p), " ", "")
				if p == `rel="next"` || p == "rel=next" {
					return target[1 : len(target)-1], true
				}
			}
		}
	}
	return "", false
}

// infer builds the schema from the first page's records.
func (s *Source) infer(records []map[string]any) {
	s.schema, s.app.Cols = httpapi.InferSchema(records)
}

// appendRecord appends record i of the page at origin; a value that does
// not fit its field's type is a reject naming the field, never a silent
// null. Only a record that loaded moves the page's incremental mark.
func (s *Source) appendRecord(b *etl.Batch, r map[string]any, origin string, i int) {
	where := etl.Origin{Cursor: fmt.Sprintf("%s record %d", strings.TrimPrefix(origin, "cursor "), i+1)}
	if !s.app.Append(b, r, where) {
		return
	}
	if inc := s.cfg.Incremental; inc != nil {
		if v, ok := httpapi.LookupString(r, inc.Field); ok {
			switch {
			case s.tooLate(v):
				s.future++
			case later(v, s.mark):
				s.mark = v
			}
		}
	}
}

// Close releases nothing: each page's response is closed once read.
func (s *Source) Close(context.Context) error { return nil }
