package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// MaxCollection is the most records one sObject Collections call takes.
const MaxCollection = 200

// TargetConfig is a "crm" target on a salesforce connection.
type TargetConfig struct {
	// Object is the sObject type: Lead, Contact, Account, My_Object__c.
	Object string `yaml:"object,required" doc:"the sObject type: Lead, Contact, Account, My_Object__c"`
	// ExternalID is the external-id field records are upserted by.
	ExternalID string `yaml:"external_id,required" doc:"the external-id field records are upserted by"`
	// IDField is the batch field holding the external id; default the
	// field map gives external_id, else the field named like it.
	IDField string `yaml:"id_field" doc:"the batch field holding the external id; default the field map gives external_id, else the field named like it"`
	// Map maps Salesforce field names to batch fields.
	Map map[string]string `yaml:"map,required" doc:"Salesforce field names to batch fields"`
	// BatchSize is the records per request, at most 200.
	BatchSize int `yaml:"batch_size" doc:"the records per request, at most 200"`
	// BulkThreshold is the changed-record count of one batch from which a
	// Bulk API 2.0 ingest job is used; default 2000, -1 never.
	BulkThreshold int `yaml:"bulk_threshold" doc:"the changed-record count of one batch from which a Bulk API 2.0 ingest job is used; default 2000, -1 never"`
	// BulkPollMax is the longest wait between two polls of a bulk job;
	// default 30s (the first wait is 1 s, doubling).
	BulkPollMax time.Duration `yaml:"bulk_poll_max" doc:"the longest wait between two polls of a bulk job; default 30s (the first wait is 1 s, doubling)"`
	// BulkTimeout bounds the wait for a bulk job to end; default 1h.
	BulkTimeout time.Duration `yaml:"bulk_timeout" doc:"bounds the wait for a bulk job to end; default 1h"`
}

func init() {
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "crm/salesforce",
			Summary: "Salesforce records upserted by an external id (sObject Collections); only changed records are sent",
			Example: "targets:\n  - type: crm\n    connection: sfdc\n    object: Lead\n    external_id: Lead_Ext_Id__c\n    map: { Lead_Ext_Id__c: lead_id, Email: email, LastName: last_name, Company: company }\n",
			Config: func() any {
				return &TargetConfig{BatchSize: MaxCollection, BulkThreshold: DefaultBulkThreshold, BulkPollMax: 30 * time.Second, BulkTimeout: time.Hour}
			},
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Target, error) { return New(*cfg.(*TargetConfig), env) },
	})
}

var sobjectName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// Target upserts batches into one sObject type.
type Target struct {
	cfg     TargetConfig
	conn    *ConnConfig
	connKey any
	outbox  *httpapi.Outbox

	httpapi.Delivery
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
		return nil, errors.New("crm target needs a salesforce connection")
	}
	conn, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("connection %s is not a salesforce connection", env.Connection.Name)
	}
	if !sobjectName.MatchString(cfg.Object) {
		return nil, &etl.FieldError{Path: []string{"object"}, Err: fmt.Errorf("%q is not an sObject name", cfg.Object)}
	}
	if !sobjectName.MatchString(cfg.ExternalID) {
		return nil, &etl.FieldError{Path: []string{"external_id"}, Err: fmt.Errorf("%q is not a field name", cfg.ExternalID)}
	}
	if len(cfg.Map) == 0 {
		return nil, &etl.FieldError{Path: []string{"map"}, Err: errors.New("map at least one Salesforce field to a batch field")}
	}
	for f, field := range cfg.Map {
		if !sobjectName.MatchString(f) || field == "" {
			return nil, &etl.FieldError{Path: []string{"map", f}, Err: errors.New("want a Salesforce field name mapped to a batch field")}
		}
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = MaxCollection
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > MaxCollection {
		return nil, &etl.FieldError{Path: []string{"batch_size"}, Err: fmt.Errorf("%d: sObject Collections take 1 to %d records", cfg.BatchSize, MaxCollection)}
	}
	switch {
	case cfg.BulkThreshold == 0:
		cfg.BulkThreshold = DefaultBulkThreshold
	case cfg.BulkThreshold < -1:
		return nil, &etl.FieldError{Path: []string{"bulk_threshold"}, Err: fmt.Errorf("%d: want a record count, or -1 for never", cfg.BulkThreshold)}
	}
	if cfg.BulkPollMax == 0 {
		cfg.BulkPollMax = 30 * time.Second
	}
	if cfg.BulkPollMax < time.Second {
		return nil, &etl.FieldError{Path: []string{"bulk_poll_max"}, Err: fmt.Errorf("%v: want 1s or more", cfg.BulkPollMax)}
	}
	if cfg.BulkTimeout == 0 {
		cfg.BulkTimeout = time.Hour
	}
	if cfg.BulkTimeout < 0 {
		return nil, &etl.FieldError{Path: []string{"bulk_timeout"}, Err: errors.New("negative")}
	}
	idField := cfg.IDField
	if idField == "" {
		idField = cfg.Map[cfg.ExternalID]
	}
	if idField == "" {
		idField = cfg.ExternalID
	}
	// The external id is always sent, whether or not map names it.
	m := make(map[string]string, len(cfg.Map)+1)
	for k, v := range cfg.Map {
		m[k] = v
	}
	m[cfg.ExternalID] = idField
	return &Target{cfg: cfg, conn: conn, connKey: env.Connection, outbox: httpapi.NewOutbox(httpapi.NewMapping(m), idField)}, nil
}

// Open builds the HTTP client; it sends nothing.
func (t *Target) Open(_ context.Context, env etl.TargetEnv) error {
	opts := t.conn.options(t.connKey)
	if err := t.Start(opts, env); err != nil {
		return fmt.Errorf("salesforce: %w", err)
	}
	return nil
}

// Commit logs the run's counts; every batch was delivered by Write.
func (t *Target) Commit(context.Context) error {
	t.LogDone(t.cfg.Object)
	return nil
}

func (t *Target) reject(b *etl.Batch, row int, value, reason string) {
	t.Reject(b, row, t.outbox.IDField(), value, reason)
}

// Write upserts the batch's changed records: with sObject Collections,
// or with a Bulk API 2.0 job when there are bulk_threshold or more. A
// replay is harmless: an upsert by external id is idempotent.
func (t *Target) Write(ctx context.Context, b *etl.Batch) error {
	t.Forget()
	if b.Len() == 0 {
		return nil
	}
	if err := t.write(ctx, b); err != nil {
		return fmt.Errorf("salesforce %s: %w", t.cfg.Object, err)
	}
	return nil
}

func (t *Target) write(ctx context.Context, b *etl.Batch) error {
	recs, err := t.outbox.Collect(b, func(i int) {
		t.reject(b, i, "", fmt.Sprintf("no %s: Salesforce upserts by it", t.cfg.ExternalID))
	})
	if err != nil {
		return err
	}
	changed, unchanged, err := t.Changes.Filter(ctx, recs)
	t.Counts.Unchanged += int64(unchanged)
	if err != nil {
		return err
	}
	if t.cfg.BulkThreshold > 0 && len(changed) >= t.cfg.BulkThreshold {
		return t.bulk(ctx, b, changed)
	}
	for start := 0; start < len(changed); start += t.cfg.BatchSize {
		delivered, err := t.upsert(ctx, b, changed[start:min(start+t.cfg.BatchSize, len(changed))])
		if err != nil {
			return err
		}
		if err := t.Changes.Save(ctx, delivered); err != nil {
			return err
		}
	}
	return nil
}

// body builds a Collections upsert request.
func (t *Target) body(chunk []httpapi.Record) []byte {
	buf := make([]byte, 0, 256*len(chunk))
	buf = append(buf, `{"allOrNone":false,"records":[`...)
	for k, r := range chunk {
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"attributes":{"type":`...)
		buf = httpapi.AppendJSONString(buf, t.cfg.Object)
		buf = append(buf, '}')
		for _, p := range r.Props {
			if p.Null {
				continue // a null would clear the field
			}
			buf = append(buf, ',')
			buf = httpapi.AppendJSONString(buf, p.Name)
			buf = append(buf, ':')
			buf = httpapi.AppendJSONValue(buf, p)
		}
		buf = append(buf, '}')
	}
	return append(buf, "]}"...)
}

// result is one record's outcome.
type result struct {
	ID      string    `json:"id"`
	Success bool      `json:"success"`
	Created bool      `json:"created"`
	Errors  apiErrors `json:"errors"`
}

// upsert sends one chunk; Salesforce answers one result per record, in
// order. Every record is reconciled: a missing result is a reject.
func (t *Target) upsert(ctx context.Context, b *etl.Batch, chunk []httpapi.Record) (map[string]string, error) {
	resp, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodPatch, Path: t.upsertPath(), Body: t.body(chunk)})
	if err != nil {
		return nil, fmt.Errorf("upsert: %w", err)
	}
	t.Counts.Requests++
	var results []result
	if err := json.Unmarshal(resp.Body, &results); err != nil {
		return nil, fmt.Errorf("upsert: HTTP %d: the answer is not a list of record results: %s: %s", resp.Status,
			httpapi.JSONProblem(err), t.Client.Redactor().Snippet(string(resp.Body), 200))
	}
	delivered := make(map[string]string, len(chunk))
	for k, r := range chunk {
		switch {
		case k >= len(results):
			t.reject(b, r.Row, r.ID, fmt.Sprintf("Salesforce returned %d results for %d records: none for this one", len(results), len(chunk)))
		case results[k].Success:
			delivered[r.ID] = r.Digest
			t.Counts.Sent++
		default:
			t.reject(b, r.Row, r.ID, "Salesforce: "+t.describe(results[k].Errors))
		}
	}
	return delivered, nil
}

func (t *Target) describe(errs apiErrors) string {
	if len(errs) == 0 {
		return "failed without an error message"
	}
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.StatusCode + e.ErrorCode + ": " + e.Message
		if len(e.Fields) > 0 {
			parts[i] += " (" + strings.Join(e.Fields, ", ") + ")"
		}
	}
	return t.Client.Redactor().Redact(strings.Join(parts, "; "))
}

// upsertPath is the sObject Collections upsert endpoint of the object by
// its external id.
func (t *Target) upsertPath() string {
	return "/services/data/" + t.conn.APIVersion + "/composite/sobjects/" + t.cfg.Object + "/" + t.cfg.ExternalID
}

var _ etl.DryRunner = (*Target)(nil)

// DryRun tells the upserts b would take, with the first one's body, the
// connection's secrets masked: sObject Collections requests, or Bulk API
// 2.0 uploads (CSV) from bulk_threshold changed records on. It sends
// nothing and saves no fingerprint. With env.Fingerprints, records whose
// fingerprint is unchanged are counted as skipped.
func (t *Target) DryRun(ctx context.Context, env etl.TargetEnv, b *etl.Batch) ([]string, error) {
	d, changed, err := httpapi.DryDeliver(ctx, b, t.outbox, httpapi.NewChanges(env), t.cfg.BatchSize, t.body)
	if err != nil {
		return nil, fmt.Errorf("salesforce %s: %w", t.cfg.Object, err)
	}
	d.Method, d.Path = http.MethodPatch, t.upsertPath()
	if t.cfg.BulkThreshold > 0 && len(changed) >= t.cfg.BulkThreshold {
		d.Method, d.Path, d.Requests = http.MethodPut, t.jobsPath()+"/{job}/batches", 0
		d.Note = "each upload is a Bulk API 2.0 upsert job: created (POST " + t.jobsPath() + "), closed, polled, its results read"
		for rest := changed; len(rest) > 0; d.Requests++ {
			data, n := t.csv(rest)
			if d.Requests == 0 {
				d.Body = data
			}
			rest = rest[n:]
		}
	}
	return d.Lines(httpapi.NewRedactor(t.conn.Secrets()...)), nil
}
