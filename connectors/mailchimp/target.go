package mailchimp

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// TargetConfig is an "audience" target on a mailchimp connection.
type TargetConfig struct {
	// List is the audience's id (Audience → Settings → Audience ID).
	List string `yaml:"list,required" doc:"the audience's id (Audience → Settings → Audience ID)"`
	// Email is the field of the member's email address: the member is
	// found by the MD5 of it in lower case.
	Email string `yaml:"email,required" doc:"the field of the member's email address: the member is found by the MD5 of it in lower case"`
	// StatusIfNew is the status of a member the audience does not hold
	// yet: subscribed (the default), pending (Mailchimp sends a
	// confirmation), unsubscribed, cleaned or transactional. An existing
	// member's status is left as it is.
	StatusIfNew string `yaml:"status_if_new" doc:"the status of a member the audience does not hold yet: subscribed (the default), pending (Mailchimp sends a confirmation), unsubscribed, cleaned or transactional"`
	// Map maps merge tags (FNAME, LNAME, PHONE, ...) to fields; the
	// lower-case keys status and language set those member fields
	// instead. Mapping status changes every existing member's status to
	// the row's, re-subscribing members who unsubscribed: map it only on
	// purpose (a null status leaves the member's as it is).
	Map map[string]string `yaml:"map" doc:"maps merge tags (FNAME, LNAME, PHONE, ...) to fields; the lower-case keys status and language set those member fields instead"`
	// Tags is a field holding the member's tags (a JSON array, or text
	// separated by commas): tags added since the last send are added,
	// tags dropped since are removed; tags set in Mailchimp by hand are
	// left alone.
	Tags string `yaml:"tags" doc:"a field holding the member's tags (a JSON array, or text separated by commas): tags added since the last send are added, tags dropped since are removed; tags set in Mailchimp by hand are left alone"`
	// Segment is a tag the target manages: added to every member in the
	// job's output, removed from members who left it on a full pass
	// (docs/marketing.md).
	Segment string `yaml:"segment" doc:"a tag the target manages: added to every member in the job's output, removed from members who left it on a full pass (docs/marketing.md)"`
	// BatchOperationsOver sends a Write's member changes as Mailchimp's
	// asynchronous batch operations (POST /batches, the results fetched
	// and matched to the rows) when more than this many members have
	// something to send; fewer go one request each, max_connections at a
	// time. Default DefaultBatchOperationsOver; negative never.
	BatchOperationsOver int `yaml:"batch_operations_over" doc:"above this many members to send in one batch of rows, send them as one POST /batches (results fetched and matched to the rows by operation id); 0 for the default, 500; negative never"`
	// BatchPollInterval is the wait between two looks at a submitted
	// batch's status; default 5 s.
	BatchPollInterval time.Duration `yaml:"batch_poll_interval" doc:"the wait between two looks at a submitted batch's status; 0 for the default, 5s"`
	// BatchTimeout bounds the wait for a submitted batch to finish
	// (default 30 minutes); beyond it the run stops with its position
	// kept, and the next run fetches the results of the batch it already
	// submitted.
	BatchTimeout time.Duration `yaml:"batch_timeout" doc:"how long to wait for a submitted batch to finish (0 for the default, 30m); past it the run stops with its position kept and the next run fetches that batch's results instead of submitting it again"`
}

func init() {
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "audience/mailchimp",
			Summary: "Mailchimp audience members upserted by email, merge fields from map, tags diffed, a segment tag kept in step with the job's output",
			Example: "targets:\n  - type: audience\n    connection: mailchimp\n    list: a1b2c3d4e5\n    email: email\n" +
				"    map: { FNAME: first_name, LNAME: last_name }\n    tags: interests\n    segment: qualified-lead\n",
			Config: func() any { return &TargetConfig{} },
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Target, error) { return New(*cfg.(*TargetConfig), env) },
	})
}

// Member statuses Mailchimp takes.
var statuses = []string{"cleaned", "pending", "subscribed", "transactional", "unsubscribed"}

var mergeTagRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,9}$`)

// Audience is the audience target.
type Audience struct {
	cfg     TargetConfig
	conn    *ConnConfig
	connKey any
	httpapi.Delivery
	// HTTPClient, if set before Open, replaces the connector's client.
	HTTPClient *http.Client

	outbox   *httpapi.Outbox
	env      etl.TargetEnv
	slots    chan struct{}
	tagState string
	segState string
	// batchState is where a Write's submitted batch ids are kept;
	// results downloads the batches' results (no credentials: it is
	// another origin); submitted, the keys of the Write's batches whose
	// results were matched.
	batchState string
	results    *httpapi.Client
	submitted  []string
	// seen holds the member ids of the run's output (segment mode).
	seen  map[string]struct{}
	stats Stats
}

// Stats counts what the target did besides the shared delivery counts.
type Stats struct {
	httpapi.DeliveryStats
	// Tagged is the members whose tags changed (tags and segment).
	Tagged int64
	// Removed is the members the segment tag was removed from.
	Removed int64
	// Batches is the batch operations whose results were matched.
	Batches int64
}

var (
	_ etl.Target    = (*Audience)(nil)
	_ etl.Rejecter  = (*Audience)(nil)
	_ etl.DryRunner = (*Audience)(nil)
)

// New validates cfg against the connection; it does no I/O.
func New(cfg TargetConfig, env etl.BuildEnv) (*Audience, error) {
	if env.Connection == nil {
		return nil, errors.New("audience target needs a mailchimp connection")
	}
	conn, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("connection %s is not a mailchimp connection", env.Connection.Name)
	}
	if strings.TrimSpace(cfg.List) == "" {
		return nil, &etl.FieldError{Path: []string{"list"}, Err: errors.New("required: the audience id")}
	}
	if cfg.Email == "" {
		return nil, &etl.FieldError{Path: []string{"email"}, Err: errors.New("required: the field of the member's email")}
	}
	if cfg.StatusIfNew == "" {
		cfg.StatusIfNew = "subscribed"
	}
	if !slices.Contains(statuses, cfg.StatusIfNew) {
		return nil, &etl.FieldError{Path: []string{"status_if_new"}, Err: fmt.Errorf("%q: want one of %s", cfg.StatusIfNew, strings.Join(statuses, ", "))}
	}
	for k, field := range cfg.Map {
		if field == "" {
			return nil, &etl.FieldError{Path: []string{"map", k}, Err: errors.New("empty field name")}
		}
		if k != "status" && k != "language" && !mergeTagRE.MatchString(k) {
			return nil, &etl.FieldError{Path: []string{"map", k}, Err: errors.New("want a merge tag (FNAME: upper case, at most 10 characters), status or language")}
		}
	}
	if cfg.Segment != "" && strings.TrimSpace(cfg.Segment) != cfg.Segment {
		return nil, &etl.FieldError{Path: []string{"segment"}, Err: errors.New("a tag name without leading or trailing spaces")}
	}
	if err := batchDefaults(&cfg); err != nil {
		return nil, err
	}
	o := httpapi.NewOutbox(httpapi.NewMapping(cfg.Map), cfg.Email)
	o.LowerID = true
	if cfg.Tags != "" {
		o.WithExtra(cfg.Tags)
	}
	return &Audience{cfg: cfg, conn: conn, connKey: env.Connection, outbox: o}, nil
}

// SetHTTPClient replaces the connector's HTTP client; call it before Open.
func (a *Audience) SetHTTPClient(hc *http.Client) { a.HTTPClient = hc }

// Open builds the client; it sends nothing.
func (a *Audience) Open(_ context.Context, env etl.TargetEnv) error {
	sh := connectionShared(a.connKey, a.conn.MaxConnections)
	opts := a.conn.Options(a.connKey)
	opts.HTTPClient = a.HTTPClient
	if opts.HTTPClient == nil {
		opts.HTTPClient = sh.client
	}
	err := a.Start(opts, env)
	if err != nil {
		return fmt.Errorf("mailchimp: %w", err)
	}
	a.env = env
	a.slots = sh.slots
	a.tagState = env.Name + "#tags"
	a.segState = env.Name + "#segment:" + a.cfg.Segment
	a.batchState = env.Name + "#batches"
	if a.results, err = resultsClient(opts, env); err != nil {
		return fmt.Errorf("mailchimp: %w", err)
	}
	a.seen = map[string]struct{}{}
	a.stats = Stats{}
	return nil
}

// Stats returns the run's counts so far.
func (a *Audience) Stats() Stats {
	s := a.stats
	s.DeliveryStats = a.Counts
	return s
}

// Hash is Mailchimp's subscriber hash: the MD5 of the lower-case email.
func Hash(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// memberPath is the member's path; the list id is escaped.
func (a *Audience) memberPath(id string) string {
	return "/lists/" + url.PathEscape(a.cfg.List) + "/members/" + Hash(id)
}

// body is the member PUT: email_address, status_if_new, status and
// language when mapped and not null, and the merge fields, typed.
func (a *Audience) body(r httpapi.Record) []byte {
	buf := append([]byte(nil), `{"email_address":`...)
	buf = httpapi.AppendJSONString(buf, r.ID)
	buf = append(buf, `,"status_if_new":`...)
	buf = httpapi.AppendJSONString(buf, a.cfg.StatusIfNew)
	for _, p := range r.Props {
		if (p.Name == "status" || p.Name == "language") && !p.Null {
			buf = append(buf, ',')
			buf = httpapi.AppendJSONString(buf, p.Name)
			buf = append(buf, ':')
			buf = httpapi.AppendJSONString(buf, p.Value)
		}
	}
	merge := 0
	for _, p := range r.Props {
		if p.Null || p.Name == "status" || p.Name == "language" {
			continue
		}
		if merge == 0 {
			buf = append(buf, `,"merge_fields":{`...)
		} else {
			buf = append(buf, ',')
		}
		merge++
		buf = httpapi.AppendJSONString(buf, p.Name)
		buf = append(buf, ':')
		buf = httpapi.AppendJSONValue(buf, p)
	}
	if merge > 0 {
		buf = append(buf, '}')
	}
	return append(buf, '}')
}

// tagChange is one tag to add (active) or remove.
type tagChange struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

func tagsBody(changes []tagChange) []byte {
	body, _ := json.Marshal(struct {
		Tags []tagChange `json:"tags"`
	}{changes})
	return body
}

// parseTags reads a tags value: a JSON array of strings, or text
// separated by commas; blanks dropped, sorted, each once.
func parseTags(p httpapi.Prop) ([]string, error) {
	if p.Null {
		return nil, nil
	}
	var tags []string
	v := strings.TrimSpace(p.Value)
	if strings.HasPrefix(v, "[") {
		if err := json.Unmarshal([]byte(v), &tags); err != nil {
			return nil, fmt.Errorf("not a JSON array of strings: %s", httpapi.JSONProblem(err))
		}
	} else {
		tags = strings.Split(v, ",")
	}
	out := tags[:0]
	for _, t := range tags {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// tagMemory is how the state store keeps a member's tags: JSON.
func tagMemory(tags []string) string {
	if tags == nil {
		tags = []string{}
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

// diffTags is what turns the tags last sent into want.
func diffTags(last, want []string) []tagChange {
	var out []tagChange
	for _, t := range want {
		if _, ok := slices.BinarySearch(last, t); !ok {
			out = append(out, tagChange{t, "active"})
		}
	}
	for _, t := range last {
		if _, ok := slices.BinarySearch(want, t); !ok {
			out = append(out, tagChange{t, "inactive"})
		}
	}
	return out
}

// Segment memory values.
const (
	segIn  = "in"
	segOut = "out"
)

// job is one member's work in a Write: its PUT if changed, then its tag
// changes; the outcome is filled in by the worker.
type job struct {
	rec     httpapi.Record
	put     bool
	tags    []tagChange
	newTags string   // tag memory after success; "" when tags are not mapped
	want    []string // the row's tags
	segment bool     // the segment tag is among tags

	putDone, tagsDone bool
	refused           string
	refusedField      string
}

// Write upserts b's members whose fields changed and changes the tags
// that differ from what was last sent, max_connections at a time.
// Replaying a batch is harmless: the PUT is an upsert and the tag changes
// are sent only where the state store says they were not.
func (a *Audience) Write(ctx context.Context, b *etl.Batch) error {
	a.Forget()
	a.submitted = nil
	if b.Len() == 0 {
		return nil
	}
	recs, err := a.outbox.Collect(b, func(i int) {
		a.Reject(b, i, a.cfg.Email, "", "no email: Mailchimp finds the member by it")
	})
	if err != nil {
		return fmt.Errorf("mailchimp: %w", err)
	}
	jobs, err := a.plan(ctx, b, recs)
	if err != nil {
		return fmt.Errorf("mailchimp: %w", err)
	}
	var runErr error
	if a.batched(len(jobs)) {
		runErr = a.runBatches(ctx, etl.BatchKey(b), jobs)
	} else {
		runErr = a.runPool(ctx, len(jobs), func(ctx context.Context, i int) error { return a.do(ctx, &jobs[i]) })
	}
	// Record what was done even when a member failed the run: it is not
	// sent again.
	digests, tagMem, segMem := map[string]string{}, map[string]string{}, map[string]string{}
	for i := range jobs {
		j := &jobs[i]
		if j.refused != "" {
			a.Reject(b, j.rec.Row, j.refusedField, j.rec.ID, j.refused)
			continue
		}
		if j.putDone {
			a.Counts.Sent++
			digests[j.rec.ID] = j.rec.Digest
		}
		if j.tagsDone {
			if len(j.tags) > 0 {
				a.stats.Tagged++
			}
			if j.newTags != "" {
				tagMem[j.rec.ID] = j.newTags
			}
			if j.segment {
				segMem[j.rec.ID] = segIn
			}
		}
	}
	if err := a.Changes.Save(ctx, digests); err != nil {
		return fmt.Errorf("mailchimp: %w", err)
	}
	if err := a.save(ctx, a.tagState, tagMem); err != nil {
		return err
	}
	if err := a.save(ctx, a.segState, segMem); err != nil {
		return err
	}
	if err := a.batchesDone(ctx); err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("mailchimp: %w", runErr)
	}
	return nil
}

// plan reads what the state store remembers of recs and makes each
// member's job; members with nothing to send are counted unchanged.
func (a *Audience) plan(ctx context.Context, b *etl.Batch, recs []httpapi.Record) ([]job, error) {
	ids, digests := make([]string, len(recs)), make([]string, len(recs))
	for i := range recs {
		r := &recs[i]
		// The member's digest leaves its tags out: they are remembered
		// apart, and a tag change alone sends no PUT.
		r.Digest = httpapi.Fingerprint(r.ID, r.Props)
		ids[i], digests[i] = r.ID, r.Digest
		if a.cfg.Segment != "" {
			a.seen[r.ID] = struct{}{}
		}
	}
	same, err := a.Changes.Unchanged(ctx, ids, digests)
	if err != nil {
		return nil, err
	}
	var lastTags, segment map[string]string
	if a.cfg.Tags != "" {
		if lastTags, err = a.recall(ctx, a.tagState, ids); err != nil {
			return nil, err
		}
	}
	if a.cfg.Segment != "" {
		if segment, err = a.recall(ctx, a.segState, ids); err != nil {
			return nil, err
		}
	}
	jobs := make([]job, 0, len(recs))
	for k, r := range recs {
		j := job{rec: r, put: !same[k]}
		if a.cfg.Tags != "" {
			want, err := parseTags(r.Extra[0])
			if err != nil {
				a.Reject(b, r.Row, a.cfg.Tags, r.Extra[0].Value, err.Error())
				continue
			}
			var last []string
			if m, ok := lastTags[r.ID]; ok {
				if json.Unmarshal([]byte(m), &last) != nil {
					last = nil
				}
			}
			j.tags = diffTags(last, want)
			j.newTags, j.want = tagMemory(want), want
		}
		if a.cfg.Segment != "" && segment[r.ID] != segIn {
			j.tags = append(j.tags, tagChange{a.cfg.Segment, "active"})
			j.segment = true
		}
		if status := a.status(r); status != "" && !slices.Contains(statuses, status) {
			a.Reject(b, r.Row, a.cfg.Map["status"], status, "status: want one of "+strings.Join(statuses, ", "))
			continue
		}
		if !j.put && len(j.tags) == 0 {
			a.Counts.Unchanged++
			continue
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

func (a *Audience) status(r httpapi.Record) string {
	for _, p := range r.Props {
		if p.Name == "status" && !p.Null {
			return p.Value
		}
	}
	return ""
}

// recall reads state values under name; without a store, none.
func (a *Audience) recall(ctx context.Context, name string, ids []string) (map[string]string, error) {
	if a.env.Fingerprints == nil {
		return map[string]string{}, nil
	}
	m, err := a.env.Fingerprints.Fingerprints(ctx, name, ids)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return m, nil
}

// save records state values under name; without a store it does nothing.
func (a *Audience) save(ctx context.Context, name string, values map[string]string) error {
	if a.env.Fingerprints == nil || len(values) == 0 {
		return nil
	}
	if err := a.env.Fingerprints.SaveFingerprints(ctx, name, values, a.Client.Now()); err != nil {
		return fmt.Errorf("mailchimp: save %s: %w", name, err)
	}
	return nil
}

// runPool runs work(0..n-1) on at most max_connections workers; the
// first error stops the rest (work already started finishes).
func (a *Audience) runPool(ctx context.Context, n int, work func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for w := 0; w < min(a.conn.MaxConnections, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := work(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

// send does one request while holding one of the connection's slots, so
// that every target of a connection together stays within its limit.
func (a *Audience) send(ctx context.Context, r httpapi.Request) (*httpapi.Response, error) {
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-a.slots }()
	return a.Client.Do(ctx, r)
}

// refusal reports whether err is Mailchimp refusing the member itself: a
// 400 (compliance state, forgotten, fake or invalid address, a merge
// field it will not take), which no retry mends.
func (a *Audience) refusal(err error) (string, bool) {
	var se *httpapi.StatusError
	if errors.As(err, &se) && !errors.Is(err, httpapi.ErrRetriesExhausted) && se.Status == http.StatusBadRequest {
		return "Mailchimp: " + errorMessage(se.Body, a.Client.Redactor()), true
	}
	return "", false
}

// do sends one member's PUT (if changed and not done yet: a /batches
// operation may have done it) and tag changes; a refused member is marked,
// a failure returned.
func (a *Audience) do(ctx context.Context, j *job) error {
	put := func() error {
		_, err := a.send(ctx, httpapi.Request{Method: http.MethodPut, Path: a.memberPath(j.rec.ID), Body: a.body(j.rec)})
		if msg, ok := a.refusal(err); ok {
			j.refused, j.refusedField = msg, a.cfg.Email
			return nil
		}
		if err != nil {
			return fmt.Errorf("put member (%s): %w", j.rec.ID, err)
		}
		j.putDone = true
		return nil
	}
	if j.put && !j.putDone {
		if err := put(); err != nil || j.refused != "" {
			return err
		}
	}
	if len(j.tags) == 0 {
		j.tagsDone = true
		return nil
	}
	tags := httpapi.Request{Method: http.MethodPost, Path: a.memberPath(j.rec.ID) + "/tags", Body: tagsBody(j.tags)}
	_, err := a.send(ctx, tags)
	var se *httpapi.StatusError
	if !j.put && errors.As(err, &se) && se.Status == http.StatusNotFound {
		// The member left the audience since it was last sent (deleted
		// in Mailchimp): put it back, then give it all its tags, as what
		// the state store remembers was lost with it.
		if err := put(); err != nil || j.refused != "" {
			return err
		}
		var all []tagChange
		for _, t := range j.want {
			all = append(all, tagChange{t, "active"})
		}
		if a.cfg.Segment != "" {
			all = append(all, tagChange{a.cfg.Segment, "active"})
			j.segment = true
		}
		err = nil
		if len(all) > 0 {
			tags.Body = tagsBody(all)
			_, err = a.send(ctx, tags)
		}
	}
	if msg, ok := a.refusal(err); ok {
		j.refused, j.refusedField = msg, a.cfg.Tags
		if j.refusedField == "" {
			j.refusedField = a.cfg.Email
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("member tags (%s): %w", j.rec.ID, err)
	}
	j.tagsDone = true
	return nil
}

// Commit removes the segment tag from the members remembered with it
// whom this run did not see, on a full pass only (etl.TargetEnv.FullPass):
// a run that read part of the input (files already loaded skipped, a
// cursor) leaves every tag in place.
func (a *Audience) Commit(ctx context.Context) error {
	defer a.LogDone("members")
	if a.cfg.Segment == "" || a.env.Fingerprints == nil {
		return nil
	}
	if a.env.FullPass == nil || !a.env.FullPass() {
		a.Log.Info("segment: not a full pass, no tag removed", "target", a.env.Name, "segment", a.cfg.Segment)
		return nil
	}
	lister, ok := a.env.Fingerprints.(etl.FingerprintLister)
	if !ok {
		a.Log.Warn("segment: the state store cannot list members, no tag removed", "target", a.env.Name)
		return nil
	}
	remembered, err := lister.AllFingerprints(ctx, a.segState)
	if err != nil {
		return fmt.Errorf("mailchimp: segment members: %w", err)
	}
	var gone []string
	for id, v := range remembered {
		if _, ok := a.seen[id]; !ok && v == segIn {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	removed := make([]bool, len(gone))
	body := tagsBody([]tagChange{{a.cfg.Segment, "inactive"}})
	remove := func(ctx context.Context, i int) error {
		_, err := a.send(ctx, httpapi.Request{Method: http.MethodPost, Path: a.memberPath(gone[i]) + "/tags", Body: body})
		var se *httpapi.StatusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			err = nil // no member, no tag
		}
		if msg, ok := a.refusal(err); ok {
			a.Log.Warn("segment: tag not removed; tried again next full pass", "target", a.env.Name, "reason", msg)
			return nil
		}
		if err != nil {
			return fmt.Errorf("remove segment tag (%s): %w", gone[i], err)
		}
		removed[i] = true
		return nil
	}
	var runErr error
	if a.batched(len(gone)) {
		runErr = a.removeByBatch(ctx, gone, removed, remove)
	} else {
		runErr = a.runPool(ctx, len(gone), remove)
	}
	out := map[string]string{}
	for i, id := range gone {
		if removed[i] {
			out[id] = segOut
			a.stats.Removed++
		}
	}
	if err := a.save(ctx, a.segState, out); err != nil {
		return err
	}
	if err := a.batchesDone(ctx); err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("mailchimp: %w", runErr)
	}
	return nil
}

// DryRun tells the member PUTs b would take, with the first one's body;
// it sends nothing and saves nothing.
func (a *Audience) DryRun(ctx context.Context, env etl.TargetEnv, b *etl.Batch) ([]string, error) {
	d, _, err := httpapi.DryDeliver(ctx, b, a.outbox, httpapi.NewChanges(env), 1, func(chunk []httpapi.Record) []byte { return a.body(chunk[0]) })
	if err != nil {
		return nil, fmt.Errorf("mailchimp: %w", err)
	}
	d.Method, d.Path = http.MethodPut, "/lists/"+url.PathEscape(a.cfg.List)+"/members/{md5 of the email}"
	if a.cfg.Tags != "" || a.cfg.Segment != "" {
		d.Note = "then POST .../tags for each member whose tags changed"
	}
	if a.batched(d.Records) {
		d.Note = strings.TrimPrefix(d.Note+"; ", "; ") + fmt.Sprintf("more than batch_operations_over (%d) members: sent as operations of one POST /batches, its results fetched and matched", a.cfg.BatchOperationsOver)
	}
	return d.Lines(httpapi.NewRedactor(a.conn.Secrets()...)), nil
}
