package zendesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// Users is the users target: users upserted through
// users/create_or_update_many, by email or external_id, the job polled to
// its end and each result matched to its row.
type Users struct {
	base
	cfg    TargetConfig
	outbox *httpapi.Outbox
	by     string // email or external_id
}

var (
	_ etl.Target    = (*Users)(nil)
	_ etl.Rejecter  = (*Users)(nil)
	_ etl.DryRunner = (*Users)(nil)
)

const userFieldsPrefix = "user_fields."

func newUsers(cfg TargetConfig, conn *ConnConfig, key any) (*Users, error) {
	if cfg.Key != "" || cfg.Comment != nil || cfg.Requester != nil {
		return nil, &etl.FieldError{Path: []string{"key"}, Err: errors.New("key, comment and requester are for object: tickets")}
	}
	if len(cfg.Map) == 0 {
		return nil, &etl.FieldError{Path: []string{"map"}, Err: errors.New("map the user's fields, at least email or external_id: { email: email, name: name }")}
	}
	by := "email"
	if cfg.Map["email"] == "" {
		by = "external_id"
		if cfg.Map["external_id"] == "" {
			return nil, &etl.FieldError{Path: []string{"map"}, Err: errors.New("map email or external_id: Zendesk finds the user to update by it")}
		}
	}
	for f := range cfg.Map {
		if strings.HasPrefix(f, userFieldsPrefix) && len(f) == len(userFieldsPrefix) {
			return nil, &etl.FieldError{Path: []string{"map", f}, Err: errors.New("name the custom user field: user_fields.plan")}
		}
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = MaxUsersPerCall
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > MaxUsersPerCall {
		return nil, &etl.FieldError{Path: []string{"batch_size"}, Err: fmt.Errorf("%d: Zendesk takes 1 to %d users per call", cfg.BatchSize, MaxUsersPerCall)}
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = 10 * time.Minute
	}
	if cfg.PollInterval < 0 || cfg.JobTimeout < 0 {
		return nil, &etl.FieldError{Path: []string{"poll_interval"}, Err: errors.New("negative")}
	}
	o := httpapi.NewOutbox(httpapi.NewMapping(cfg.Map), cfg.Map[by])
	o.LowerID = by == "email"
	return &Users{base: base{conn: conn, connKey: key}, cfg: cfg, outbox: o, by: by}, nil
}

// Open builds the client; it sends nothing.
func (u *Users) Open(_ context.Context, env etl.TargetEnv) error { return u.open(env) }

// Commit logs the counts: every batch was delivered by Write.
func (u *Users) Commit(context.Context) error {
	u.LogDone("users")
	return nil
}

// Write upserts b's changed users, BatchSize per call, and waits for each
// job. Replaying a batch is harmless: create_or_update is an upsert by
// email or external_id.
func (u *Users) Write(ctx context.Context, b *etl.Batch) error {
	u.Forget()
	if b.Len() == 0 {
		return nil
	}
	unchanged, err := httpapi.Deliver(ctx, b, u.outbox, u.Changes, u.cfg.BatchSize, func(i int) {
		u.Reject(b, i, u.outbox.IDField(), "", "no "+u.by+": Zendesk finds the user by it")
	}, func(ctx context.Context, chunk []httpapi.Record) (map[string]string, error) {
		return u.send(ctx, b, chunk)
	})
	u.Counts.Unchanged += int64(unchanged)
	if err != nil {
		return fmt.Errorf("zendesk users: %w", err)
	}
	return nil
}

// body is {"users": [...]}: each user's mapped fields, typed (tags as an
// array of strings, user_fields.X into user_fields); nulls left out.
func (u *Users) body(chunk []httpapi.Record) []byte {
	buf := append([]byte(nil), `{"users":[`...)
	for k, r := range chunk {
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		n := 0
		var custom []httpapi.Prop
		for _, p := range r.Props {
			if p.Null {
				continue
			}
			if name, ok := strings.CutPrefix(p.Name, userFieldsPrefix); ok {
				p.Name = name
				custom = append(custom, p)
				continue
			}
			if n > 0 {
				buf = append(buf, ',')
			}
			n++
			buf = httpapi.AppendJSONString(buf, p.Name)
			buf = append(buf, ':')
			switch p.Name {
			case "tags":
				buf = appendTags(buf, p)
			case u.by:
				buf = httpapi.AppendJSONString(buf, r.ID)
			default:
				buf = httpapi.AppendJSONValue(buf, p)
			}
		}
		if len(custom) > 0 {
			if n > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `"user_fields":{`...)
			for i, p := range custom {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = httpapi.AppendJSONString(buf, p.Name)
				buf = append(buf, ':')
				buf = httpapi.AppendJSONValue(buf, p)
			}
			buf = append(buf, '}')
		}
		buf = append(buf, '}')
	}
	return append(buf, "]}"...)
}

// jobStatus is a Zendesk job_status.
type jobStatus struct {
	ID      string          `json:"id"`
	Status  string          `json:"status"`
	Message *string         `json:"message"`
	Results json.RawMessage `json:"results"`
}

// jobResult is one entry of a finished job's results.
type jobResult struct {
	Index      *int        `json:"index"`
	ID         json.Number `json:"id"`
	Email      string      `json:"email"`
	ExternalID string      `json:"external_id"`
	Status     string      `json:"status"`
	Success    *bool       `json:"success"`
	Error      string      `json:"error"`
	Details    any         `json:"details"`
}

// send posts one chunk, polls its job to the end and reconciles every
// user: accepted ones are returned with their digests, refused ones are
// quarantined with Zendesk's message, and one the job did not report is
// quarantined too, never assumed done.
func (u *Users) send(ctx context.Context, b *etl.Batch, chunk []httpapi.Record) (map[string]string, error) {
	resp, err := u.Client.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: "/api/v2/users/create_or_update_many", Body: u.body(chunk)})
	if se, ok := refused(err); ok {
		u.Counts.Requests++
		if len(chunk) > 1 {
			// One bad user fails the call: halve until it stands alone.
			half := len(chunk) / 2
			d1, err := u.send(ctx, b, chunk[:half])
			if err != nil {
				return nil, err
			}
			d2, err := u.send(ctx, b, chunk[half:])
			if err != nil {
				return nil, err
			}
			for k, v := range d2 {
				d1[k] = v
			}
			return d1, nil
		}
		u.Reject(b, chunk[0].Row, u.outbox.IDField(), chunk[0].ID, "Zendesk: "+errorMessage(se.Body, u.Client.Redactor()))
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("create_or_update_many: %w", err)
	}
	u.Counts.Requests++
	var js struct {
		JobStatus jobStatus `json:"job_status"`
	}
	if err := json.Unmarshal(resp.Body, &js); err != nil || js.JobStatus.ID == "" {
		return nil, fmt.Errorf("create_or_update_many: HTTP %d: the answer is not a job status: %s", resp.Status, u.Client.Redactor().Snippet(string(resp.Body), 200))
	}
	st, err := u.poll(ctx, js.JobStatus)
	if err != nil {
		return nil, err
	}
	return u.reconcile(b, chunk, st)
}

// poll waits for a job to be completed or failed, poll_interval apart, at
// most job_timeout.
func (u *Users) poll(ctx context.Context, st jobStatus) (jobStatus, error) {
	deadline := u.Client.Now().Add(u.cfg.JobTimeout)
	for st.Status != "completed" && st.Status != "failed" && st.Status != "killed" {
		if u.Client.Now().After(deadline) {
			return st, fmt.Errorf("job %s still %s after job_timeout %s; the batch is sent again next run", st.ID, st.Status, u.cfg.JobTimeout)
		}
		if err := u.Client.Sleep(ctx, u.cfg.PollInterval); err != nil {
			return st, fmt.Errorf("job %s: %w", st.ID, err)
		}
		resp, err := u.Client.Do(ctx, httpapi.Request{Path: "/api/v2/job_statuses/" + url.PathEscape(st.ID)})
		if err != nil {
			return st, fmt.Errorf("job %s: %w", st.ID, err)
		}
		u.Counts.Requests++
		var js struct {
			JobStatus jobStatus `json:"job_status"`
		}
		if err := json.Unmarshal(resp.Body, &js); err != nil || js.JobStatus.Status == "" {
			return st, fmt.Errorf("job %s: the answer is not a job status: %s", st.ID, u.Client.Redactor().Snippet(string(resp.Body), 200))
		}
		js.JobStatus.ID = st.ID
		st = js.JobStatus
	}
	return st, nil
}

// reconcile matches a finished job's results to the chunk: by index when
// the result has one, else by email or external_id, else by position when
// there is one result per user.
func (u *Users) reconcile(b *etl.Batch, chunk []httpapi.Record, st jobStatus) (map[string]string, error) {
	red := u.Client.Redactor()
	delivered := make(map[string]string, len(chunk))
	var results []jobResult
	if len(st.Results) > 0 && st.Results[0] == '[' {
		if err := json.Unmarshal(st.Results, &results); err != nil {
			return nil, fmt.Errorf("job %s: results: %s", st.ID, httpapi.JSONProblem(err))
		}
	}
	if st.Status != "completed" {
		why := "Zendesk: job " + st.Status
		if st.Message != nil {
			why += ": " + red.Redact(*st.Message)
		}
		if len(results) == 0 {
			for _, r := range chunk {
				u.Reject(b, r.Row, u.outbox.IDField(), r.ID, why)
			}
			return delivered, nil
		}
	}
	byID := make(map[string]int, len(chunk))
	for k, r := range chunk {
		byID[r.ID] = k
	}
	outcome := make([]*jobResult, len(chunk))
	for i := range results {
		res := &results[i]
		k, ok := -1, false
		switch {
		case res.Index != nil:
			k, ok = *res.Index, *res.Index >= 0 && *res.Index < len(chunk)
		case u.by == "email" && res.Email != "":
			k, ok = byID[strings.ToLower(strings.TrimSpace(res.Email))]
		case u.by == "external_id" && res.ExternalID != "":
			k, ok = byID[res.ExternalID]
		case len(results) == len(chunk):
			k, ok = i, true
		}
		if ok && outcome[k] == nil {
			outcome[k] = res
		}
	}
	for k, r := range chunk {
		res := outcome[k]
		switch {
		case res == nil:
			u.Reject(b, r.Row, u.outbox.IDField(), r.ID, fmt.Sprintf("Zendesk: job %s (%s) reported no result for this user", st.ID, st.Status))
		case res.Error != "" || (res.Success != nil && !*res.Success) || strings.EqualFold(res.Status, "failed"):
			msg := res.Error
			if res.Details != nil {
				msg += ": " + fmt.Sprint(res.Details)
			}
			u.Reject(b, r.Row, u.outbox.IDField(), r.ID, "Zendesk: "+red.Snippet(msg, 300))
		default:
			delivered[r.ID] = r.Digest
			u.Counts.Sent++
		}
	}
	return delivered, nil
}

// DryRun tells the create_or_update_many calls b would take, with the first
// one's body; it sends nothing and saves no fingerprint.
func (u *Users) DryRun(ctx context.Context, env etl.TargetEnv, b *etl.Batch) ([]string, error) {
	d, _, err := httpapi.DryDeliver(ctx, b, u.outbox, httpapi.NewChanges(env), u.cfg.BatchSize, u.body)
	if err != nil {
		return nil, fmt.Errorf("zendesk users: %w", err)
	}
	d.Method, d.Path = http.MethodPost, "/api/v2/users/create_or_update_many"
	d.Note = "each call's job is polled until done"
	return d.Lines(httpapi.NewRedactor(u.conn.Secrets()...)), nil
}
