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
	Object string `yaml:"object,required"`
	// IDProperty is the unique property records are upserted by; default
	// email for contacts and domain for companies.
	IDProperty string `yaml:"id_property"`
	// IDField is the field holding the id value; default the field that
	// map gives id_property, else the field named like id_property.
	IDField string `yaml:"id_field"`
	// Map maps HubSpot property names to fields.
	Map map[string]string `yaml:"map,required"`
	// BatchSize is the number of inputs per request, at most 100.
	BatchSize int `yaml:"batch_size"`
}

func init() {
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "crm/hubspot",
			Summary: "HubSpot CRM records, batch-upserted by a unique property; only changed records are sent",
			Example: "targets:\n  - type: crm\n    connection: hubspot\n    object: contacts\n    id_property: email\n    map: { email: email, firstname: first_name, lead_score: score }\n",
			Config:  func() any { return &TargetConfig{BatchSize: MaxBatchInputs} },
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
	return &Target{cfg: cfg, conn: conn, connKey: env.Connection, outbox: outbox}, nil
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
	return nil
}

// Commit does nothing: every batch was delivered by Write.
func (t *Target) Commit(context.Context) error {
	t.LogDone(t.cfg.Object)
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
	unchanged, err := httpapi.Deliver(ctx, b, t.outbox, t.Changes, t.cfg.BatchSize, func(i int) {
		t.Reject(b, i, t.outbox.IDField(), "", fmt.Sprintf("no %s: HubSpot upserts by it", t.cfg.IDProperty))
	}, func(ctx context.Context, chunk []httpapi.Record) (map[string]string, error) {
		delivered := make(map[string]string, len(chunk))
		return delivered, t.upsert(ctx, b, chunk, delivered)
	})
	t.Counts.Unchanged += int64(unchanged)
	if err != nil {
		return fmt.Errorf("hubspot %s: %w", t.cfg.Object, err)
	}
	return nil
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

// upsertResponse is the 200 / 207 answer of a batch upsert.
type upsertResponse struct {
	Results []struct {
		ID                 string            `json:"id"`
		ObjectWriteTraceID string            `json:"objectWriteTraceId"`
		Properties         map[string]string `json:"properties"`
	} `json:"results"`
	Errors []struct {
		Message  string              `json:"message"`
		Category string              `json:"category"`
		Context  map[string][]string `json:"context"`
	} `json:"errors"`
}

// upsert sends one chunk and reconciles every input: accepted ones go into
// delivered, refused ones to the rejects. A 400 for a chunk of several
// inputs (one bad input fails them all) is split in halves until the bad
// inputs stand alone and are rejected with HubSpot's message.
func (t *Target) upsert(ctx context.Context, b *etl.Batch, chunk []httpapi.Record, delivered map[string]string) error {
	path := "/crm/v3/objects/" + t.cfg.Object + "/batch/upsert"
	resp, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: path, Body: t.body(chunk)})
	if err != nil {
		var se *httpapi.StatusError
		if errors.As(err, &se) && se.Status == http.StatusBadRequest && !errors.Is(err, httpapi.ErrRetriesExhausted) {
			t.Counts.Requests++
			if len(chunk) > 1 {
				half := len(chunk) / 2
				if err := t.upsert(ctx, b, chunk[:half], delivered); err != nil {
					return err
				}
				return t.upsert(ctx, b, chunk[half:], delivered)
			}
			t.Reject(b, chunk[0].Row, t.outbox.IDField(), chunk[0].ID, "HubSpot: "+errorMessage(se.Body, t.Client.Redactor()))
			return nil
		}
		return fmt.Errorf("upsert: %w", err)
	}
	t.Counts.Requests++
	if resp.Status == http.StatusOK {
		// 200 means every input succeeded.
		for _, r := range chunk {
			delivered[r.ID] = r.Digest
		}
		t.Counts.Sent += int64(len(chunk))
		return nil
	}
	var ur upsertResponse
	if err := json.Unmarshal(resp.Body, &ur); err != nil {
		return fmt.Errorf("upsert: HTTP %d: decode response: %w", resp.Status, err)
	}
	// Every input is reconciled: by trace id, else by its id property;
	// an input neither reported done nor failed is rejected, never assumed.
	const (
		unknown = iota
		done
		failed
	)
	state := make([]int, len(chunk))
	reason := make([]string, len(chunk))
	byID := make(map[string]int, len(chunk))
	for k, r := range chunk {
		byID[r.ID] = k
	}
	traceIndex := func(s string) (int, bool) {
		k, err := strconv.Atoi(s)
		return k, err == nil && k >= 0 && k < len(chunk)
	}
	var unmatchedErr string
	for _, e := range ur.Errors {
		msg := t.Client.Redactor().Redact(e.Message)
		if e.Category != "" {
			msg = e.Category + ": " + msg
		}
		traces := e.Context["objectWriteTraceId"]
		matched := false
		for _, tr := range traces {
			if k, ok := traceIndex(tr); ok {
				state[k], reason[k], matched = failed, msg, true
			}
		}
		for _, id := range e.Context["ids"] {
			if k, ok := byID[strings.ToLower(id)]; ok && state[k] == unknown {
				state[k], reason[k], matched = failed, msg, true
			}
		}
		if !matched {
			unmatchedErr = msg
		}
	}
	for _, res := range ur.Results {
		if k, ok := traceIndex(res.ObjectWriteTraceID); ok && state[k] == unknown {
			state[k] = done
			continue
		}
		v := res.Properties[t.cfg.IDProperty]
		if t.cfg.IDProperty == "email" {
			v = strings.ToLower(v)
		}
		if k, ok := byID[v]; ok && state[k] == unknown {
			state[k] = done
		}
	}
	for k, r := range chunk {
		switch state[k] {
		case done:
			delivered[r.ID] = r.Digest
			t.Counts.Sent++
		case failed:
			t.Reject(b, r.Row, t.outbox.IDField(), r.ID, "HubSpot: "+reason[k])
		default:
			why := fmt.Sprintf("HubSpot answered HTTP %d without a result for this input", resp.Status)
			if unmatchedErr != "" {
				why += ": " + unmatchedErr
			}
			t.Reject(b, r.Row, t.outbox.IDField(), r.ID, why)
		}
	}
	return nil
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
