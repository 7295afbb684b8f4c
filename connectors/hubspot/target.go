package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// MaxBatchInputs is the most inputs HubSpot takes in one batch request.
const MaxBatchInputs = 100

// TargetConfig is a "crm" target on a hubspot connection.
type TargetConfig struct {
	// Object is the CRM object type: contacts, companies, deals or a
	// custom object's type id.
	Object string `yaml:"object,required" doc:"the CRM object type: contacts, companies, deals or a custom object's type id"`
	// IDProperty is the unique property records are upserted by; default
	// email for contacts and domain for companies.
	IDProperty string `yaml:"id_property" doc:"the unique property records are upserted by; default email for contacts and domain for companies"`
	// IDField is the field holding the id value; default the field that
	// map gives id_property, else the field named like id_property.
	IDField string `yaml:"id_field" doc:"the field holding the id value; default the field that map gives id_property, else the field named like id_property"`
	// Map maps HubSpot property names to fields.
	Map map[string]string `yaml:"map,required" doc:"HubSpot property names to fields"`
	// BatchSize is the number of inputs per request, at most 100.
	BatchSize int `yaml:"batch_size" doc:"the number of inputs per request, at most 100"`
	// Associate links each record to a record of another object type
	// (the key: companies, contacts, deals), found by a field's value.
	Associate map[string]AssociationConfig `yaml:"associate" doc:"links each record to a record of another object type (the key: companies, contacts, deals), found by a field's value"`
	// Note attaches a note (a conversation summary) to each record.
	Note *NoteConfig `yaml:"note" doc:"attaches a note (a conversation summary) to each record"`
}

func init() {
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "crm/hubspot",
			Summary: "HubSpot CRM records, batch-upserted by a unique property; only changed records are sent",
			Example: "targets:\n  - type: crm\n    connection: hubspot\n    object: contacts\n    id_property: email\n    map: { email: email, firstname: first_name, lead_score: score }\n" +
				"    associate: { companies: { by: company_domain } }\n    note: { key: conversation_id, body: summary, timestamp: ended_at }\n",
			Config: func() any { return &TargetConfig{BatchSize: MaxBatchInputs} },
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Target, error) { return New(*cfg.(*TargetConfig), env) },
	})
}

var objectName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Target upserts batches into one HubSpot object type.
type Target struct {
	cfg     TargetConfig
	conn    *ConnConfig
	connKey any
	outbox  *httpapi.Outbox
	// needIDs is set when follow-ups need the HubSpot ids of upserts.
	needIDs bool
	self    *resolver // the target object's ids by id_property
	assocs  []*association
	notes   *notes
	refused map[int]bool // rows rejected in this Write
	httpapi.Delivery
	// HTTPClient, if set before Open, replaces the default HTTP client.
	HTTPClient *http.Client
}

// Stats counts what a target did in its run.
type Stats = httpapi.DeliveryStats

var (
	_ etl.Target   = (*Target)(nil)
	_ etl.Rejecter = (*Target)(nil)
)

// New validates cfg against the connection; it does no I/O.
func New(cfg TargetConfig, env etl.BuildEnv) (*Target, error) {
	if env.Connection == nil {
		return nil, errors.New("crm target needs a hubspot connection")
	}
	conn, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("connection %s is not a hubspot connection", env.Connection.Name)
	}
	if !objectName.MatchString(cfg.Object) {
		return nil, &etl.FieldError{Path: []string{"object"}, Err: fmt.Errorf("%q is not an object type (contacts, companies, deals, or a custom object's id)", cfg.Object)}
	}
	if cfg.IDProperty == "" {
		switch cfg.Object {
		case "contacts":
			cfg.IDProperty = "email"
		case "companies":
			cfg.IDProperty = "domain"
		default:
			return nil, &etl.FieldError{Path: []string{"id_property"}, Err: fmt.Errorf("required for object %s: a property with unique values", cfg.Object)}
		}
	}
	if len(cfg.Map) == 0 {
		return nil, &etl.FieldError{Path: []string{"map"}, Err: errors.New("map at least one property to a field, e.g. { email: email }")}
	}
	for prop, field := range cfg.Map {
		if prop == "" || field == "" {
			return nil, &etl.FieldError{Path: []string{"map", prop}, Err: errors.New("empty property or field name")}
		}
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = MaxBatchInputs
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > MaxBatchInputs {
		return nil, &etl.FieldError{Path: []string{"batch_size"}, Err: fmt.Errorf("%d: HubSpot takes 1 to %d inputs per request", cfg.BatchSize, MaxBatchInputs)}
	}
	idField := cfg.IDField
	if idField == "" {
		idField = cfg.Map[cfg.IDProperty]
	}
	if idField == "" {
		idField = cfg.IDProperty
	}
	outbox := httpapi.NewOutbox(httpapi.NewMapping(cfg.Map), idField)
	outbox.LowerID = cfg.IDProperty == "email"
	t := &Target{cfg: cfg, conn: conn, connKey: env.Connection, outbox: outbox, refused: map[int]bool{},
		self: &resolver{object: cfg.Object, property: cfg.IDProperty}}
	if err := t.buildFollowUps(); err != nil {
		return nil, err
	}
	return t, nil
}

// Open builds the HTTP client; it sends nothing.
func (t *Target) Open(_ context.Context, env etl.TargetEnv) error {
	opts := t.conn.Options(t.connKey)
	opts.Classify, opts.Pacer = classify, pacer
	opts.HTTPClient = t.HTTPClient
	if opts.HTTPClient != nil && t.conn.OAuth2 != nil {
		opts.Auth = t.conn.AuthConfig.Authorizer(opts.HTTPClient)
	}
	if err := t.Start(opts, env); err != nil {
		return fmt.Errorf("hubspot: %w", err)
	}
	t.openFollowUps(env)
	return nil
}

// Commit does nothing: every batch was delivered by Write.
func (t *Target) Commit(context.Context) error {
	t.LogDone(t.cfg.Object)
	if t.notes != nil {
		s := t.notes.stats
		t.Log.Info("notes done", "target", t.notes.target, "created", s.Created, "updated", s.Updated, "unchanged", s.Unchanged)
	}
	return nil
}

// Write upserts the batch's changed records, at most BatchSize per request.
// Replaying a batch is harmless: an upsert by a unique property is
// idempotent.
func (t *Target) Write(ctx context.Context, b *etl.Batch) error {
	t.Forget() // what a failed Write refused is refused again on replay
	if b.Len() == 0 {
		return nil
	}
	clear(t.refused)
	unchanged, err := httpapi.Deliver(ctx, b, t.outbox, t.Changes, t.cfg.BatchSize, func(i int) {
		t.refuse(b, i, t.outbox.IDField(), "", fmt.Sprintf("no %s: HubSpot upserts by it", t.cfg.IDProperty))
	}, func(ctx context.Context, chunk []httpapi.Record) (map[string]string, error) {
		return t.send(ctx, b, chunk)
	})
	t.Counts.Unchanged += int64(unchanged)
	if err != nil {
		return fmt.Errorf("hubspot %s: %w", t.cfg.Object, err)
	}
	if t.notes != nil {
		if err := t.writeNotes(ctx, b); err != nil {
			return fmt.Errorf("hubspot %s notes: %w", t.cfg.Object, err)
		}
	}
	return nil
}

// send upserts one chunk, then creates its associations; a record counts
// as delivered (and its fingerprint is saved) only when both succeeded.
func (t *Target) send(ctx context.Context, b *etl.Batch, chunk []httpapi.Record) (map[string]string, error) {
	accepted := make(map[string]string, len(chunk))
	if err := t.upsert(ctx, b, chunk, accepted); err != nil {
		return nil, err
	}
	for id, hsID := range accepted {
		if hsID != "" {
			t.self.cache[t.self.norm(id)] = hsID
		}
	}
	for k := range t.assocs {
		if err := t.associate(ctx, b, chunk, k, accepted); err != nil {
			return nil, err
		}
	}
	delivered := make(map[string]string, len(chunk))
	for _, r := range chunk {
		if _, ok := accepted[r.ID]; ok {
			delivered[r.ID] = r.Digest
			t.Counts.Sent++
		}
	}
	return delivered, nil
}

// refuse rejects row of b once per Write, however many of its parts
// (record, association, note) failed.
func (t *Target) refuse(b *etl.Batch, row int, field, value, reason string) {
	if t.refused[row] {
		return
	}
	t.refused[row] = true
	t.Reject(b, row, field, value, reason)
}

// body builds the batch upsert request; objectWriteTraceId is the input's
// index in chunk.
func (t *Target) body(chunk []httpapi.Record) []byte {
	buf := make([]byte, 0, 256*len(chunk))
	buf = append(buf, `{"inputs":[`...)
	for k, r := range chunk {
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"id":`...)
		buf = httpapi.AppendJSONString(buf, r.ID)
		buf = append(buf, `,"idProperty":`...)
		buf = httpapi.AppendJSONString(buf, t.cfg.IDProperty)
		buf = append(buf, `,"objectWriteTraceId":"`...)
		buf = strconv.AppendInt(buf, int64(k), 10)
		buf = append(buf, `","properties":{`...)
		first := true
		for _, p := range r.Props {
			if p.Null {
				// A null is left out: an empty string would clear the
				// property in HubSpot.
				continue
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = httpapi.AppendJSONString(buf, p.Name)
			buf = append(buf, ':')
			buf = httpapi.AppendJSONString(buf, p.Value)
		}
		buf = append(buf, "}}"...)
	}
	return append(buf, "]}"...)
}

// upsert sends one chunk and reconciles every input: accepted ones go into
// accepted (record id → HubSpot id, "" when the answer did not say),
// refused ones to the rejects. A 400 for a chunk of several inputs (one
// bad input fails them all) is split in halves until the bad inputs stand
// alone and are rejected with HubSpot's message.
func (t *Target) upsert(ctx context.Context, b *etl.Batch, chunk []httpapi.Record, accepted map[string]string) error {
	resp, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: t.upsertPath(), Body: t.body(chunk)})
	if err != nil {
		var se *httpapi.StatusError
		if errors.As(err, &se) && se.Status == http.StatusBadRequest && !errors.Is(err, httpapi.ErrRetriesExhausted) {
			t.Counts.Requests++
			if len(chunk) > 1 {
				half := len(chunk) / 2
				if err := t.upsert(ctx, b, chunk[:half], accepted); err != nil {
					return err
				}
				return t.upsert(ctx, b, chunk[half:], accepted)
			}
			t.refuse(b, chunk[0].Row, t.outbox.IDField(), chunk[0].ID, "HubSpot: "+errorMessage(se.Body, t.Client.Redactor()))
			return nil
		}
		return fmt.Errorf("upsert: %w", err)
	}
	t.Counts.Requests++
	if resp.Status == http.StatusOK && !t.needIDs {
		// 200 means every input succeeded.
		for _, r := range chunk {
			accepted[r.ID] = ""
		}
		return nil
	}
	// Every input is reconciled: by trace id, else by its id property;
	// an input neither reported done nor failed is rejected, never assumed.
	byID := make(map[string]int, len(chunk))
	for k, r := range chunk {
		byID[r.ID] = k
	}
	norm := normFor(t.cfg.IDProperty)
	o, err := reconcile(resp, len(chunk), byID, func(_ string, props map[string]string) string {
		return props[t.cfg.IDProperty]
	}, norm, false, t.Client.Redactor())
	if err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	for k, r := range chunk {
		switch o.state[k] {
		case done:
			accepted[r.ID] = o.ids[k]
		case failed:
			t.refuse(b, r.Row, t.outbox.IDField(), r.ID, "HubSpot: "+o.reason[k])
		default:
			t.refuse(b, r.Row, t.outbox.IDField(), r.ID, o.missing(resp.Status))
		}
	}
	return nil
}

// upsertPath is the object's batch upsert endpoint.
func (t *Target) upsertPath() string { return "/crm/v3/objects/" + t.cfg.Object + "/batch/upsert" }

var _ etl.DryRunner = (*Target)(nil)

// DryRun tells the batch upserts b would take, with the first one's body,
// the token and every other secret of the connection masked; it sends
// nothing and saves no fingerprint. With env.Fingerprints, records whose
// fingerprint is unchanged are counted as skipped.
func (t *Target) DryRun(ctx context.Context, env etl.TargetEnv, b *etl.Batch) ([]string, error) {
	d, _, err := httpapi.DryDeliver(ctx, b, t.outbox, httpapi.NewChanges(env), t.cfg.BatchSize, t.body)
	if err != nil {
		return nil, fmt.Errorf("hubspot %s: %w", t.cfg.Object, err)
	}
	d.Method, d.Path = http.MethodPost, t.upsertPath()
	var follow []string
	for _, a := range t.assocs {
		follow = append(follow, fmt.Sprintf("associations to %s (by %s)", a.to, a.cfg.By))
	}
	if t.notes != nil {
		follow = append(follow, "notes")
	}
	if len(follow) > 0 {
		d.Note = "each upsert is followed by " + strings.Join(follow, ", ")
	}
	return d.Lines(httpapi.NewRedactor(t.conn.Secrets()...)), nil
}

// errorMessage extracts HubSpot's message from an error body.
func errorMessage(body string, red *httpapi.Redactor) string {
	var e struct {
		Message  string `json:"message"`
		Category string `json:"category"`
	}
	if json.Unmarshal([]byte(body), &e) == nil && e.Message != "" {
		if e.Category != "" {
			return red.Redact(e.Category + ": " + e.Message)
		}
		return red.Redact(e.Message)
	}
	return red.Redact(body)
}
