package mailchimp

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// Defaults of the batch operations (docs/marketing.md, "Large loads").
const (
	// DefaultBatchOperationsOver is the number of members with something
	// to send above which a Write goes through /batches. Below it the
	// per-request path is faster: 500 members are 50 rounds of 10
	// requests, seconds, where a batch waits in Mailchimp's queue (its API
	// reference: only one batch request is run at a time) and is looked at
	// every batch_poll_interval. Above it one request replaces hundreds:
	// Mailchimp's guide to the batch endpoint names it for bulk member
	// updates beyond the 10-connection limit and the 120 s request timeout.
	DefaultBatchOperationsOver = 500
	DefaultBatchPollInterval   = 5 * time.Second
	DefaultBatchTimeout        = 30 * time.Minute
)

func batchDefaults(cfg *TargetConfig) error {
	if cfg.BatchOperationsOver == 0 {
		cfg.BatchOperationsOver = DefaultBatchOperationsOver
	}
	if cfg.BatchPollInterval == 0 {
		cfg.BatchPollInterval = DefaultBatchPollInterval
	}
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = DefaultBatchTimeout
	}
	if cfg.BatchPollInterval < 0 {
		return &etl.FieldError{Path: []string{"batch_poll_interval"}, Err: errors.New("negative")}
	}
	if cfg.BatchTimeout < 0 {
		return &etl.FieldError{Path: []string{"batch_timeout"}, Err: errors.New("negative")}
	}
	return nil
}

// resultsClient downloads a batch's results from response_body_url: an
// address on another origin (Mailchimp's storage) that carries its own
// signature, so the client holds no credentials, and the API key never
// leaves for it.
func resultsClient(api httpapi.Options, env etl.TargetEnv) (*httpapi.Client, error) {
	return httpapi.New(httpapi.Options{HTTPClient: api.HTTPClient, Timeout: api.Timeout, MaxRetries: api.MaxRetries,
		MaxWait: api.MaxWait, MaxBody: api.MaxBody, Secrets: api.Secrets, Clock: env.Clock, Logger: env.Logger})
}

// batched reports whether a Write of n members with something to send
// goes through /batches.
func (a *Audience) batched(n int) bool {
	return a.cfg.BatchOperationsOver >= 0 && n > a.cfg.BatchOperationsOver
}

// batchOp is one operation of a POST /batches, and what it does for
// which job.
type batchOp struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   string `json:"body"`
	ID     string `json:"operation_id"`
	job    int
	tags   bool
}

// opResult is one operation's result in the results archive: its status,
// the operation_id it was given and the response body, as a string.
type opResult struct {
	StatusCode  int    `json:"status_code"`
	OperationID string `json:"operation_id"`
	Response    string `json:"response"`
}

// batchStatus is Mailchimp's batch resource.
type batchStatus struct {
	ID                 string `json:"id"`
	Status             string `json:"status"`
	TotalOperations    int    `json:"total_operations"`
	FinishedOperations int    `json:"finished_operations"`
	ErroredOperations  int    `json:"errored_operations"`
	ResponseBodyURL    string `json:"response_body_url"`
}

// Operation ids: the kind and the member's subscriber hash, unique in a
// Write (its records are one per email) and the same on a replay.
func (a *Audience) putOp(jobs []job, i int) batchOp {
	r := jobs[i].rec
	return batchOp{Method: http.MethodPut, Path: a.memberPath(r.ID), Body: string(a.body(r)), ID: "put-" + Hash(r.ID), job: i}
}

func (a *Audience) tagsOp(jobs []job, i int) batchOp {
	r := jobs[i].rec
	return batchOp{Method: http.MethodPost, Path: a.memberPath(r.ID) + "/tags", Body: string(tagsBody(jobs[i].tags)), ID: "tags-" + Hash(r.ID), job: i, tags: true}
}

// runBatches does what do does for every job, through at most two batch
// operations: the PUTs with the tag changes of members not PUT, then the
// tag changes of the members whose PUT was accepted (a batch's operations
// run in no set order, and a new member's tags need the member). Each
// result is matched to its job by operation_id: a 2xx marks it done, a 400
// refuses the member with Mailchimp's message as do would, anything else
// (a member deleted since it was last sent, a 5xx) leaves the job to do,
// one request at a time, afterwards. key identifies the Write across
// replays (etl.BatchKey).
func (a *Audience) runBatches(ctx context.Context, key string, jobs []job) error {
	var first []batchOp
	for i := range jobs {
		if jobs[i].put {
			first = append(first, a.putOp(jobs, i))
		} else {
			first = append(first, a.tagsOp(jobs, i))
		}
	}
	later, err := a.batch(ctx, key+"/1", first, jobs)
	if err != nil {
		return err
	}
	var second []batchOp
	for i := range jobs {
		j := &jobs[i]
		if j.put && j.putDone && j.refused == "" && !later[i] {
			if len(j.tags) == 0 {
				j.tagsDone = true
			} else {
				second = append(second, a.tagsOp(jobs, i))
			}
		}
	}
	if len(second) > 0 {
		more, err := a.batch(ctx, key+"/2", second, jobs)
		if err != nil {
			return err
		}
		for i := range more {
			later[i] = true
		}
	}
	var rest []int
	for i := range jobs {
		if later[i] {
			rest = append(rest, i)
		}
	}
	if len(rest) > 0 {
		a.Log.Info("batch: operations sent one by one", "target", a.env.Name, "members", len(rest))
	}
	return a.runPool(ctx, len(rest), func(ctx context.Context, k int) error { return a.do(ctx, &jobs[rest[k]]) })
}

// batch runs ops as one POST /batches, or picks up the batch a replay of
// this Write submitted already (its id is in the state store under key,
// with a digest of the operations: a Write planned differently submits
// anew), waits for it to finish, and applies each result to its job. It
// returns the jobs left to do one request at a time.
func (a *Audience) batch(ctx context.Context, key string, ops []batchOp, jobs []job) (map[int]bool, error) {
	body, err := json.Marshal(struct {
		Operations []batchOp `json:"operations"`
	}{ops})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:12])
	var st batchStatus
	if id, err := a.submittedBatch(ctx, key, digest); err != nil {
		return nil, err
	} else if id != "" {
		st, err = a.batchStatus(ctx, id)
		var se *httpapi.StatusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			a.Log.Info("batch: the batch submitted before is gone, submitted again", "target", a.env.Name, "batch", id)
			st = batchStatus{}
		} else if err != nil {
			return nil, err
		} else {
			a.Log.Info("batch: fetching the results of the batch submitted before", "target", a.env.Name, "batch", id)
		}
	}
	if st.ID == "" {
		resp, err := a.send(ctx, httpapi.Request{Method: http.MethodPost, Path: "/batches", Body: body})
		if err != nil {
			return nil, fmt.Errorf("submit batch of %d operations: %w", len(ops), err)
		}
		if err := json.Unmarshal(resp.Body, &st); err != nil || st.ID == "" {
			return nil, fmt.Errorf("submit batch: the answer is not a batch: %s", a.Client.Redactor().Snippet(string(resp.Body), 200))
		}
		if err := a.save(ctx, a.batchState, map[string]string{key: digest + " " + st.ID}); err != nil {
			return nil, err
		}
	}
	if st, err = a.waitBatch(ctx, st); err != nil {
		return nil, err
	}
	results, err := a.batchResults(ctx, st)
	if err != nil {
		return nil, err
	}
	later, err := a.match(st.ID, ops, results, jobs)
	if err != nil {
		return nil, err
	}
	a.stats.Batches++
	a.submitted = append(a.submitted, key)
	return later, nil
}

// submittedBatch is the id of the batch submitted under key for the same
// operations, if any.
func (a *Audience) submittedBatch(ctx context.Context, key, digest string) (string, error) {
	m, err := a.recall(ctx, a.batchState, []string{key})
	if err != nil {
		return "", err
	}
	d, id, ok := strings.Cut(m[key], " ")
	if !ok || d != digest {
		return "", nil
	}
	return id, nil
}

// batchesDone forgets the Write's batches once their results are matched
// and recorded: a later Write under the same key submits anew.
func (a *Audience) batchesDone(ctx context.Context) error {
	done := map[string]string{}
	for _, k := range a.submitted {
		done[k] = "done"
	}
	a.submitted = nil
	return a.save(ctx, a.batchState, done)
}

func (a *Audience) batchStatus(ctx context.Context, id string) (batchStatus, error) {
	resp, err := a.send(ctx, httpapi.Request{Path: "/batches/" + url.PathEscape(id)})
	if err != nil {
		return batchStatus{}, fmt.Errorf("batch %s: %w", id, err)
	}
	var st batchStatus
	if err := json.Unmarshal(resp.Body, &st); err != nil || st.Status == "" {
		return batchStatus{}, fmt.Errorf("batch %s: the answer is not a batch: %s", id, a.Client.Redactor().Snippet(string(resp.Body), 200))
	}
	st.ID = id
	return st, nil
}

// waitBatch looks at st every batch_poll_interval until it is finished,
// at most batch_timeout; the client honours 429s and Retry-After on each
// look.
func (a *Audience) waitBatch(ctx context.Context, st batchStatus) (batchStatus, error) {
	deadline := a.Client.Now().Add(a.cfg.BatchTimeout)
	for st.Status != "finished" {
		if a.Client.Now().After(deadline) {
			return st, fmt.Errorf("batch %s still %s after batch_timeout %s (%d of %d operations finished): the run stops with its position kept; the next run fetches this batch's results instead of submitting it again",
				st.ID, st.Status, a.cfg.BatchTimeout, st.FinishedOperations, st.TotalOperations)
		}
		if err := a.Client.Sleep(ctx, a.cfg.BatchPollInterval); err != nil {
			return st, fmt.Errorf("batch %s: %w", st.ID, err)
		}
		var err error
		if st, err = a.batchStatus(ctx, st.ID); err != nil {
			return st, err
		}
	}
	return st, nil
}

// batchResults downloads a finished batch's results: a gzipped tar of
// JSON files, each an array of operation results.
func (a *Audience) batchResults(ctx context.Context, st batchStatus) ([]opResult, error) {
	if st.ResponseBodyURL == "" {
		return nil, fmt.Errorf("batch %s: finished without response_body_url", st.ID)
	}
	resp, err := a.results.Do(ctx, httpapi.Request{Path: st.ResponseBodyURL, Stream: true})
	if err != nil {
		return nil, fmt.Errorf("batch %s: results: %w", st.ID, err)
	}
	defer resp.Reader.Close()
	zr, err := gzip.NewReader(resp.Reader)
	if err != nil {
		return nil, fmt.Errorf("batch %s: results are not gzipped: %w", st.ID, err)
	}
	var out []opResult
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("batch %s: results archive: %w", st.ID, err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".json") {
			continue
		}
		var part []opResult
		if err := json.NewDecoder(tr).Decode(&part); err != nil {
			return nil, fmt.Errorf("batch %s: results file %s: %s", st.ID, a.Client.Redactor().Redact(h.Name), httpapi.JSONProblem(err))
		}
		out = append(out, part...)
	}
	return out, nil
}

// match applies each result to the job of the operation with its
// operation_id; a result for no operation, or two for one, fails the
// Write. Operations without a result are left to do one by one.
func (a *Audience) match(id string, ops []batchOp, results []opResult, jobs []job) (map[int]bool, error) {
	byID := make(map[string]int, len(ops))
	for k, op := range ops {
		byID[op.ID] = k
	}
	got := make([]bool, len(ops))
	later := map[int]bool{}
	red := a.Client.Redactor()
	for _, r := range results {
		k, ok := byID[r.OperationID]
		if !ok {
			return nil, fmt.Errorf("batch %s: a result for operation %q, which the batch does not hold", id, red.Snippet(r.OperationID, 80))
		}
		if got[k] {
			return nil, fmt.Errorf("batch %s: two results for operation %s", id, r.OperationID)
		}
		got[k] = true
		op := ops[k]
		j := &jobs[op.job]
		switch {
		case r.StatusCode >= 200 && r.StatusCode < 300:
			if op.tags {
				j.tagsDone = true
			} else {
				j.putDone = true
			}
		case r.StatusCode == http.StatusBadRequest:
			j.refused = "Mailchimp: " + errorMessage(r.Response, red)
			j.refusedField = a.cfg.Email
			if op.tags && a.cfg.Tags != "" {
				j.refusedField = a.cfg.Tags
			}
		default:
			later[op.job] = true
		}
	}
	for k, op := range ops {
		if !got[k] {
			a.Log.Warn("batch: no result for an operation; sent on its own", "target", a.env.Name, "batch", id, "operation", op.ID)
			later[op.job] = true
		}
	}
	return later, nil
}

// removeByBatch removes the segment tag from the members gone, as
// Commit's remove does one by one, through one batch operation: a 2xx
// marks the member removed, a 400 is logged (tried again next full pass),
// anything else (a member deleted in Mailchimp: 404) is left to remove.
func (a *Audience) removeByBatch(ctx context.Context, gone []string, removed []bool, remove func(context.Context, int) error) error {
	jobs := make([]job, len(gone))
	ops := make([]batchOp, len(gone))
	for i, id := range gone {
		jobs[i] = job{rec: httpapi.Record{ID: id}, tags: []tagChange{{a.cfg.Segment, "inactive"}}}
		ops[i] = a.tagsOp(jobs, i)
	}
	if _, err := a.batch(ctx, "commit", ops, jobs); err != nil {
		return err
	}
	var rest []int
	for i, j := range jobs {
		switch {
		case j.tagsDone:
			removed[i] = true
		case j.refused != "":
			a.Log.Warn("segment: tag not removed; tried again next full pass", "target", a.env.Name, "reason", j.refused)
		default:
			rest = append(rest, i)
		}
	}
	return a.runPool(ctx, len(rest), func(ctx context.Context, k int) error { return remove(ctx, rest[k]) })
}
