package zendesk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// State values of a ticket key and of a message, as the state store keeps
// them. A pending ticket or message was being sent when a run stopped: the
// next run asks Zendesk whether it landed before sending it again.
const (
	statePending = "pending"
	stateDone    = "done"
	stateRefused = "refused"
)

// TicketStats counts what a tickets target did in its run.
type TicketStats struct {
	// Created is the tickets made; Found, those a run that stopped had
	// made, found again by external_id instead of being made twice.
	Created, Found int64
	// Comments is the messages added as comments (a new ticket's first
	// message included); Updated, the field updates (status, priority,
	// subject, type, tags).
	Comments, Updated int64
	// Unchanged is the messages skipped because they were added before.
	Unchanged int64
}

// Tickets is the tickets target: one ticket per key, each message once.
type Tickets struct {
	base
	cfg     TargetConfig
	mapping httpapi.Mapping
	// ids, comments and fields are the state store names of the ticket
	// ids, the messages' states and the digests of the ticket fields.
	store                   etl.Fingerprints
	ids, comments, fields   string
	job, name               string
	stats                   TicketStats
	keyCol, msgCol, bodyCol int
	reqEmailCol, reqNameCol int
	bound                   *httpapi.Bound
}

var (
	_ etl.Target    = (*Tickets)(nil)
	_ etl.Rejecter  = (*Tickets)(nil)
	_ etl.DryRunner = (*Tickets)(nil)
)

func newTickets(cfg TargetConfig, conn *ConnConfig, key any) (*Tickets, error) {
	if cfg.Key == "" {
		return nil, &etl.FieldError{Path: []string{"key"}, Err: errors.New("required: the field identifying a ticket, e.g. conversation_id")}
	}
	if cfg.Comment == nil && len(cfg.Map) == 0 {
		return nil, &etl.FieldError{Path: []string{"comment"}, Err: errors.New("set comment (each row a message) or map (the ticket's fields)")}
	}
	if cfg.BatchSize != 0 || cfg.PollInterval != 0 || cfg.JobTimeout != 0 {
		return nil, &etl.FieldError{Path: []string{"batch_size"}, Err: errors.New("batch_size, poll_interval and job_timeout are for object: users")}
	}
	if err := checkMap(cfg.Map, ticketFields); err != nil {
		return nil, err
	}
	return &Tickets{base: base{conn: conn, connKey: key}, cfg: cfg, mapping: httpapi.NewMapping(cfg.Map)}, nil
}

// Open builds the client; it sends nothing.
func (t *Tickets) Open(_ context.Context, env etl.TargetEnv) error {
	if err := t.open(env); err != nil {
		return err
	}
	t.setState(env)
	t.stats = TicketStats{}
	return nil
}

func (t *Tickets) setState(env etl.TargetEnv) {
	t.store = env.Fingerprints
	t.ids, t.comments, t.fields = env.Name+" ticket ids", env.Name+" comments", env.Name+" ticket fields"
	t.job, t.name = env.Job, env.Name
}

// Stats returns the ticket counts of the run so far.
func (t *Tickets) Stats() TicketStats { return t.stats }

// Commit logs the counts: every batch was delivered by Write.
func (t *Tickets) Commit(context.Context) error {
	s := t.stats
	t.Log.Info("tickets done", "target", t.name, "created", s.Created, "found", s.Found, "comments", s.Comments,
		"updated", s.Updated, "unchanged", s.Unchanged, "rejected", t.Counts.Rejected, "requests", t.Counts.Requests)
	return nil
}

// message is one row's message.
type message struct {
	row       int
	key, body string
	state     string
}

// ticket is one key's work in a batch.
type ticket struct {
	key    string
	rows   []int
	last   int
	msgs   []message
	props  []httpapi.Prop
	digest string
	// email and name of the requester, from the first row.
	email, name string
}

// bind resolves the fields in b's schema.
func (t *Tickets) bind(s *etl.Schema) error {
	if t.bound != nil && t.bound.Schema() == s {
		return nil
	}
	col := func(path []string, f string) (int, error) {
		if f == "" {
			return -1, nil
		}
		c := s.Index(f)
		if c < 0 {
			return 0, &etl.FieldError{Path: path, Err: fmt.Errorf("field %q is not in the batch (fields: %s)", f, s)}
		}
		return c, nil
	}
	var err error
	if t.keyCol, err = col([]string{"key"}, t.cfg.Key); err != nil {
		return err
	}
	t.msgCol, t.bodyCol, t.reqEmailCol, t.reqNameCol = -1, -1, -1, -1
	if c := t.cfg.Comment; c != nil {
		if t.msgCol, err = col([]string{"comment", "key"}, c.Key); err != nil {
			return err
		}
		if t.bodyCol, err = col([]string{"comment", "body"}, c.Body); err != nil {
			return err
		}
	}
	if r := t.cfg.Requester; r != nil {
		if t.reqEmailCol, err = col([]string{"requester", "email"}, r.Email); err != nil {
			return err
		}
		if t.reqNameCol, err = col([]string{"requester", "name"}, r.Name); err != nil {
			return err
		}
	}
	t.bound, err = t.mapping.Bind(s)
	return err
}

func text(b *etl.Batch, col, i int) string {
	if col < 0 {
		return ""
	}
	v, _ := b.Cols[col].Text(i)
	return strings.TrimSpace(v)
}

// collect groups b's rows by ticket key, in order of first appearance;
// rows without a key or with a field Zendesk would refuse are rejected.
func (t *Tickets) collect(b *etl.Batch, reject func(row int, field, value, reason string)) ([]*ticket, error) {
	if err := t.bind(b.Schema); err != nil {
		return nil, err
	}
	byKey := map[string]*ticket{}
	var out []*ticket
	seen := map[string]bool{}
rows:
	for i := 0; i < b.Len(); i++ {
		key := text(b, t.keyCol, i)
		if key == "" {
			reject(i, t.cfg.Key, "", "no "+t.cfg.Key+": a ticket is kept once by it")
			continue
		}
		props := t.bound.Row(b, i, nil)
		for _, p := range props {
			if allowed := ticketEnums[p.Name]; allowed != nil && !blank(p) && !slices.Contains(allowed, strings.TrimSpace(p.Value)) {
				reject(i, t.cfg.Map[p.Name], p.Value, fmt.Sprintf("%s %q is not one of %s", p.Name, p.Value, strings.Join(allowed, ", ")))
				continue rows
			}
		}
		tk := byKey[key]
		if tk == nil {
			tk = &ticket{key: key, email: text(b, t.reqEmailCol, i), name: text(b, t.reqNameCol, i)}
			byKey[key] = tk
			out = append(out, tk)
		}
		tk.rows = append(tk.rows, i)
		tk.last, tk.props = i, props
		if t.cfg.Comment != nil {
			msg, body := text(b, t.msgCol, i), text(b, t.bodyCol, i)
			if body == "" {
				continue
			}
			if msg == "" {
				reject(i, t.cfg.Comment.Key, "", "no "+t.cfg.Comment.Key+": a message is added once by it")
				continue
			}
			id := commentID(key, msg)
			if seen[id] {
				continue // a message repeated in one batch is added once
			}
			seen[id] = true
			tk.msgs = append(tk.msgs, message{row: i, key: msg, body: body})
		}
	}
	for _, tk := range out {
		tk.digest = httpapi.Fingerprint(tk.key, tk.props)
	}
	return out, nil
}

// commentID is a message's id in the state store: the ticket key and the
// message key, unambiguous whatever characters they hold.
func commentID(key, msg string) string { return strconv.Itoa(len(key)) + ":" + key + "/" + msg }

// readState fills in each message's state and returns each key's ticket
// id (or statePending) and field digest.
func (t *Tickets) readState(ctx context.Context, work []*ticket) (ids, digests map[string]string, err error) {
	if t.store == nil {
		return map[string]string{}, map[string]string{}, nil
	}
	var keys, msgIDs []string
	for _, tk := range work {
		keys = append(keys, tk.key)
		for _, m := range tk.msgs {
			msgIDs = append(msgIDs, commentID(tk.key, m.key))
		}
	}
	if ids, err = t.store.Fingerprints(ctx, t.ids, keys); err != nil {
		return nil, nil, fmt.Errorf("read ticket ids: %w", err)
	}
	if digests, err = t.store.Fingerprints(ctx, t.fields, keys); err != nil {
		return nil, nil, fmt.Errorf("read ticket fields: %w", err)
	}
	states, err := t.store.Fingerprints(ctx, t.comments, msgIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("read comments: %w", err)
	}
	for _, tk := range work {
		for k := range tk.msgs {
			tk.msgs[k].state = states[commentID(tk.key, tk.msgs[k].key)]
		}
	}
	return ids, digests, nil
}

// save records state values under name; without a store it does nothing.
func (t *Tickets) save(ctx context.Context, name string, values map[string]string) error {
	if t.store == nil || len(values) == 0 {
		return nil
	}
	if err := t.store.SaveFingerprints(ctx, name, values, t.Client.Now()); err != nil {
		return fmt.Errorf("save %s: %w", strings.TrimPrefix(name, t.name+" "), err)
	}
	return nil
}

// Write makes the tickets of b's keys that have none, adds each message
// not added before as a comment, and updates the fields that changed. A
// replayed batch, or a rerun after a crash, adds nothing twice: every
// ticket and message is marked pending in the state store before it is
// sent and done after, and a pending one is looked up in Zendesk
// (external_id, the ticket's comments) before it is sent again.
func (t *Tickets) Write(ctx context.Context, b *etl.Batch) error {
	t.Forget()
	if b.Len() == 0 {
		return nil
	}
	refusedRow := map[int]bool{}
	reject := func(row int, field, value, reason string) {
		if !refusedRow[row] {
			refusedRow[row] = true
			t.Reject(b, row, field, value, reason)
		}
	}
	work, err := t.collect(b, reject)
	if err != nil {
		return fmt.Errorf("zendesk tickets: %w", err)
	}
	ids, digests, err := t.readState(ctx, work)
	if err != nil {
		return fmt.Errorf("zendesk tickets: %w", err)
	}
	for _, tk := range work {
		if err := t.deliver(ctx, b, tk, ids[tk.key], digests[tk.key], reject); err != nil {
			return fmt.Errorf("zendesk tickets: %s %q: %w", t.cfg.Key, tk.key, err)
		}
	}
	return nil
}

// deliver brings one key's ticket up to date.
func (t *Tickets) deliver(ctx context.Context, b *etl.Batch, tk *ticket, id, digest string, reject func(int, string, string, string)) error {
	msgs := tk.msgs[:0:0]
	for _, m := range tk.msgs {
		if m.state == stateDone {
			t.stats.Unchanged++
			continue
		}
		msgs = append(msgs, m)
	}
	if id == "" && t.store == nil {
		id = statePending // no memory: always ask Zendesk first
	}
	if id == statePending {
		found, err := t.findTicket(ctx, tk.key)
		if err != nil {
			return err
		}
		id = found
		if found != "" {
			t.stats.Found++
			if err := t.save(ctx, t.ids, map[string]string{tk.key: found}); err != nil {
				return err
			}
		}
	}
	if id == "" {
		var first *message
		if len(msgs) > 0 {
			first = &msgs[0]
		}
		made, err := t.create(ctx, tk, first)
		if se, ok := refused(err); ok {
			for _, row := range tk.rows {
				reject(row, t.cfg.Key, tk.key, "Zendesk: create ticket: "+errorMessage(se.Body, t.Client.Redactor()))
			}
			return nil
		}
		if err != nil {
			return err
		}
		id = made
		digest = tk.digest
		if first != nil {
			msgs = msgs[1:]
		}
	}
	if err := t.addComments(ctx, tk, id, msgs, reject); err != nil {
		return err
	}
	if len(tk.props) > 0 && digest != tk.digest {
		body := t.ticketBody(nil, tk, nil, false)
		_, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodPut, Path: ticketPath(id), Body: body})
		if se, ok := refused(err); ok {
			t.Counts.Requests++
			reject(tk.last, t.cfg.Key, tk.key, "Zendesk: update ticket "+id+": "+errorMessage(se.Body, t.Client.Redactor()))
			return nil
		}
		if err != nil {
			return fmt.Errorf("update ticket %s: %w", id, err)
		}
		t.Counts.Requests++
		t.stats.Updated++
		if err := t.save(ctx, t.fields, map[string]string{tk.key: tk.digest}); err != nil {
			return err
		}
	}
	return nil
}

func ticketPath(id string) string { return "/api/v2/tickets/" + url.PathEscape(id) }

// ticketBody is {"ticket": {...}}: the mapped fields, then for a create the
// external_id and requester, and the comment if any.
func (t *Tickets) ticketBody(buf []byte, tk *ticket, comment *message, create bool) []byte {
	buf = append(buf, `{"ticket":{`...)
	n := 0
	sep := func() {
		if n > 0 {
			buf = append(buf, ',')
		}
		n++
	}
	for _, p := range tk.props {
		if blank(p) {
			continue
		}
		sep()
		buf = httpapi.AppendJSONString(buf, p.Name)
		buf = append(buf, ':')
		if p.Name == "tags" {
			buf = appendTags(buf, p)
		} else {
			buf = httpapi.AppendJSONString(buf, strings.TrimSpace(p.Value))
		}
	}
	if create {
		sep()
		buf = append(buf, `"external_id":`...)
		buf = httpapi.AppendJSONString(buf, tk.key)
		if tk.email != "" {
			sep()
			buf = append(buf, `"requester":{"email":`...)
			buf = httpapi.AppendJSONString(buf, tk.email)
			if tk.name != "" {
				buf = append(buf, `,"name":`...)
				buf = httpapi.AppendJSONString(buf, tk.name)
			}
			buf = append(buf, '}')
		}
		if !hasProp(tk.props, "subject") && comment == nil {
			// A ticket needs a first comment.
			sep()
			buf = append(buf, `"comment":{"body":`...)
			buf = httpapi.AppendJSONString(buf, "Conversation "+tk.key)
			buf = append(buf, '}')
		}
	}
	if comment != nil {
		sep()
		buf = append(buf, `"comment":{"body":`...)
		buf = httpapi.AppendJSONString(buf, comment.body)
		buf = append(buf, `,"public":`...)
		buf = strconv.AppendBool(buf, t.cfg.Comment.Public)
		buf = append(buf, '}')
	} else if create && hasProp(tk.props, "subject") {
		sep()
		buf = append(buf, `"comment":{"body":`...)
		buf = httpapi.AppendJSONString(buf, propValue(tk.props, "subject"))
		buf = append(buf, '}')
	}
	return append(buf, "}}"...)
}

// blank reports whether a field has no value: null or white space. It is
// left out of requests (an empty status is no status).
func blank(p httpapi.Prop) bool { return p.Null || strings.TrimSpace(p.Value) == "" }

func hasProp(props []httpapi.Prop, name string) bool {
	for _, p := range props {
		if p.Name == name && !p.Null && strings.TrimSpace(p.Value) != "" {
			return true
		}
	}
	return false
}

func propValue(props []httpapi.Prop, name string) string {
	for _, p := range props {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// appendTags appends a tags value as a JSON array of strings: a JSON array
// as it is, else the text split at commas and white space.
func appendTags(buf []byte, p httpapi.Prop) []byte {
	var tags []string
	if p.Type == etl.TypeJSON {
		var arr []any
		if json.Unmarshal([]byte(p.Value), &arr) == nil {
			for _, v := range arr {
				tags = append(tags, strings.TrimSpace(fmt.Sprint(v)))
			}
		}
	}
	if tags == nil {
		tags = strings.FieldsFunc(p.Value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	}
	buf = append(buf, '[')
	k := 0
	for _, tag := range tags {
		if tag == "" {
			continue
		}
		if k > 0 {
			buf = append(buf, ',')
		}
		k++
		buf = httpapi.AppendJSONString(buf, tag)
	}
	return append(buf, ']')
}

// idempotencyKey is the Idempotency-Key of a key's create: the same for
// every attempt and run of this job's target, so Zendesk answers a
// repeated create with the ticket it made.
func (t *Tickets) idempotencyKey(key string) string {
	sum := sha256.Sum256([]byte(t.job + "\x00" + t.name + "\x00" + key))
	return "nightjar-" + hex.EncodeToString(sum[:16])
}

// create makes a key's ticket, with first (if any) as its first comment,
// after marking both pending; it returns the ticket's id.
func (t *Tickets) create(ctx context.Context, tk *ticket, first *message) (string, error) {
	if err := t.save(ctx, t.ids, map[string]string{tk.key: statePending}); err != nil {
		return "", err
	}
	if first != nil {
		if err := t.save(ctx, t.comments, map[string]string{commentID(tk.key, first.key): statePending}); err != nil {
			return "", err
		}
	}
	resp, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: "/api/v2/tickets",
		Header: http.Header{"Idempotency-Key": {t.idempotencyKey(tk.key)}}, Body: t.ticketBody(nil, tk, first, true)})
	if err != nil {
		if _, ok := refused(err); ok {
			t.Counts.Requests++
			if first != nil {
				err2 := t.save(ctx, t.comments, map[string]string{commentID(tk.key, first.key): stateRefused})
				return "", errors.Join(err, err2)
			}
		}
		return "", fmt.Errorf("create ticket: %w", err)
	}
	t.Counts.Requests++
	var r struct {
		Ticket struct {
			ID json.Number `json:"id"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal(resp.Body, &r); err != nil || r.Ticket.ID == "" {
		return "", fmt.Errorf("create ticket: HTTP %d: the answer has no ticket id: %s", resp.Status, t.Client.Redactor().Snippet(string(resp.Body), 200))
	}
	id := r.Ticket.ID.String()
	if err := t.save(ctx, t.ids, map[string]string{tk.key: id}); err != nil {
		return "", err
	}
	if first != nil {
		if err := t.save(ctx, t.comments, map[string]string{commentID(tk.key, first.key): stateDone}); err != nil {
			return "", err
		}
		t.stats.Comments++
		t.Counts.Sent++
	}
	if err := t.save(ctx, t.fields, map[string]string{tk.key: tk.digest}); err != nil {
		return "", err
	}
	t.stats.Created++
	return id, nil
}

// findTicket looks a key's ticket up by external_id; "" when there is none.
// Of several (made by hand, or by another tool), the oldest is taken.
func (t *Tickets) findTicket(ctx context.Context, key string) (string, error) {
	resp, err := t.Client.Do(ctx, httpapi.Request{Path: "/api/v2/tickets", Query: url.Values{"external_id": {key}}})
	if err != nil {
		return "", fmt.Errorf("find ticket by external_id: %w", err)
	}
	t.Counts.Requests++
	var r struct {
		Tickets []struct {
			ID json.Number `json:"id"`
		} `json:"tickets"`
	}
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return "", fmt.Errorf("find ticket by external_id: %s", httpapi.JSONProblem(err))
	}
	best := int64(-1)
	for _, tk := range r.Tickets {
		if n, err := tk.ID.Int64(); err == nil && (best < 0 || n < best) {
			best = n
		}
	}
	if best < 0 {
		return "", nil
	}
	return strconv.FormatInt(best, 10), nil
}

// maxCommentPages bounds the pages of a ticket's comments read to find
// pending messages.
const maxCommentPages = 100

// landed returns the bodies of a ticket's comments, counted, to match the
// pending messages of a run that stopped.
func (t *Tickets) landed(ctx context.Context, id string) (map[string]int, error) {
	bodies := map[string]int{}
	path := ticketPath(id) + "/comments"
	for page := 0; path != "" && page < maxCommentPages; page++ {
		resp, err := t.Client.Do(ctx, httpapi.Request{Path: path})
		if err != nil {
			return nil, fmt.Errorf("list comments of ticket %s: %w", id, err)
		}
		t.Counts.Requests++
		var r struct {
			Comments []struct {
				Body string `json:"body"`
			} `json:"comments"`
			NextPage *string `json:"next_page"`
		}
		if err := json.Unmarshal(resp.Body, &r); err != nil {
			return nil, fmt.Errorf("list comments of ticket %s: %s", id, httpapi.JSONProblem(err))
		}
		for _, c := range r.Comments {
			bodies[strings.TrimSpace(c.Body)]++
		}
		path = ""
		if r.NextPage != nil {
			path = *r.NextPage
		}
	}
	return bodies, nil
}

// addComments adds msgs to ticket id, in order: a pending one (sent by a
// run that stopped) is added only if the ticket has no comment with its
// text yet.
func (t *Tickets) addComments(ctx context.Context, tk *ticket, id string, msgs []message, reject func(int, string, string, string)) error {
	if len(msgs) == 0 {
		return nil
	}
	var bodies map[string]int
	todo := msgs[:0:0]
	done := map[string]string{}
	for _, m := range msgs {
		if m.state == statePending {
			if bodies == nil {
				var err error
				if bodies, err = t.landed(ctx, id); err != nil {
					return err
				}
			}
			if bodies[m.body] > 0 {
				bodies[m.body]--
				done[commentID(tk.key, m.key)] = stateDone
				t.stats.Comments++
				t.Counts.Sent++
				continue
			}
		}
		todo = append(todo, m)
	}
	if err := t.save(ctx, t.comments, done); err != nil {
		return err
	}
	pending := map[string]string{}
	for _, m := range todo {
		pending[commentID(tk.key, m.key)] = statePending
	}
	if err := t.save(ctx, t.comments, pending); err != nil {
		return err
	}
	for i := range todo {
		m := &todo[i]
		body := append([]byte(`{"ticket":{"comment":{"body":`), nil...)
		body = httpapi.AppendJSONString(body, m.body)
		body = append(body, `,"public":`...)
		body = strconv.AppendBool(body, t.cfg.Comment.Public)
		body = append(body, "}}}"...)
		_, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodPut, Path: ticketPath(id), Body: body})
		state := stateDone
		if se, ok := refused(err); ok {
			reject(m.row, t.cfg.Comment.Body, "", "Zendesk: add comment to ticket "+id+": "+errorMessage(se.Body, t.Client.Redactor()))
			state, err = stateRefused, nil
		} else if err != nil {
			return fmt.Errorf("add comment %q to ticket %s: %w", m.key, id, err)
		} else {
			t.stats.Comments++
			t.Counts.Sent++
		}
		t.Counts.Requests++
		if err := t.save(ctx, t.comments, map[string]string{commentID(tk.key, m.key): state}); err != nil {
			return err
		}
	}
	return nil
}

// DryRun tells the requests b would take, by what the state store holds:
// tickets to make, comments to add, field updates; it sends nothing and
// saves nothing. Secrets of the connection are masked.
func (t *Tickets) DryRun(ctx context.Context, env etl.TargetEnv, b *etl.Batch) ([]string, error) {
	t.setState(env)
	var rejected int
	work, err := t.collect(b, func(int, string, string, string) { rejected++ })
	if err != nil {
		return nil, fmt.Errorf("zendesk tickets: %w", err)
	}
	ids, digests, err := t.readState(ctx, work)
	if err != nil {
		return nil, fmt.Errorf("zendesk tickets: %w", err)
	}
	var creates, comments, updates, unchanged int
	var firstCreate, firstComment []byte
	for _, tk := range work {
		var msgs []message
		for _, m := range tk.msgs {
			if m.state == stateDone {
				unchanged++
			} else {
				msgs = append(msgs, m)
			}
		}
		if id := ids[tk.key]; id == "" || id == statePending {
			creates++
			var first *message
			if len(msgs) > 0 {
				first, msgs = &msgs[0], msgs[1:]
			}
			if firstCreate == nil {
				firstCreate = t.ticketBody(nil, tk, first, true)
			}
		} else if len(tk.props) > 0 && digests[tk.key] != tk.digest {
			updates++
		}
		comments += len(msgs)
		if firstComment == nil && len(msgs) > 0 {
			firstComment = t.ticketBody(nil, &ticket{}, &msgs[0], false)
		}
	}
	red := httpapi.NewRedactor(t.conn.Secrets()...)
	lines := httpapi.DryRun{Method: http.MethodPost, Path: "/api/v2/tickets", Requests: creates, Records: creates, Body: firstCreate,
		Note: "each with an Idempotency-Key; external_id is the key"}.Lines(red)
	lines = append(lines, httpapi.DryRun{Method: http.MethodPut, Path: "/api/v2/tickets/{id}", Requests: comments, Records: comments,
		Unchanged: unchanged, Body: firstComment, Note: "one comment per new message"}.Lines(red)...)
	if updates > 0 {
		lines = append(lines, fmt.Sprintf("PUT /api/v2/tickets/{id}: %d field update(s) (status, priority, subject, type, tags)", updates))
	}
	if rejected > 0 {
		lines = append(lines, fmt.Sprintf("%d row(s) would be refused (no key, or a value Zendesk does not take)", rejected))
	}
	return lines, nil
}
