package salesforce

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// DefaultBulkThreshold is the changed-record count of one batch from which
// the target uses a Bulk API 2.0 job instead of sObject Collections:
// Salesforce recommends Bulk above about 2,000 records.
const DefaultBulkThreshold = 2000

// maxUpload bounds the CSV of one job (Salesforce takes up to 150 MB per
// upload, base64 growth included); more records go in further jobs.
var maxUpload = 100 << 20

// sobjectID is a Salesforce record or job id, safe in a path.
var sobjectID = regexp.MustCompile(`^[A-Za-z0-9]{15,18}$`)

// Job states of the Bulk API 2.0.
const (
	jobComplete = "JobComplete"
	jobFailed   = "Failed"
	jobAborted  = "Aborted"
)

// jobInfo is a Bulk API 2.0 ingest job.
type jobInfo struct {
	ID                     string `json:"id"`
	State                  string `json:"state"`
	ErrorMessage           string `json:"errorMessage"`
	NumberRecordsProcessed int64  `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int64  `json:"numberRecordsFailed"`
}

// bulk upserts recs with Bulk API 2.0 ingest jobs: create, upload the
// CSV, close, poll with backoff until the job ends, then read the failed
// and successful results and reconcile every record. A job that fails as
// a whole fails the Write (its records are sent again on replay: an
// upsert by external id is idempotent).
func (t *Target) bulk(ctx context.Context, b *etl.Batch, recs []httpapi.Record) error {
	for len(recs) > 0 {
		data, n := t.csv(recs)
		part := recs[:n]
		recs = recs[n:]
		delivered, err := t.runJob(ctx, b, part, data)
		if err != nil {
			return err
		}
		if err := t.Changes.Save(ctx, delivered); err != nil {
			return err
		}
	}
	return nil
}

func (t *Target) jobsPath() string { return "/services/data/" + t.conn.APIVersion + "/jobs/ingest" }

func (t *Target) runJob(ctx context.Context, b *etl.Batch, recs []httpapi.Record, data []byte) (map[string]string, error) {
	create, _ := json.Marshal(map[string]string{
		"object": t.cfg.Object, "externalIdFieldName": t.cfg.ExternalID,
		"contentType": "CSV", "operation": "upsert", "lineEnding": "LF",
	})
	resp, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: t.jobsPath(), Body: create})
	if err != nil {
		return nil, fmt.Errorf("create bulk job: %w", err)
	}
	t.Counts.Requests++
	var job jobInfo
	if err := json.Unmarshal(resp.Body, &job); err != nil || job.ID == "" || !sobjectID.MatchString(job.ID) {
		return nil, fmt.Errorf("create bulk job: HTTP %d: no job id in the answer", resp.Status)
	}
	jobPath := t.jobsPath() + "/" + job.ID
	_, err = t.Client.Do(ctx, httpapi.Request{Method: http.MethodPut, Path: jobPath + "/batches", Body: data,
		Header: http.Header{"Content-Type": {"text/csv"}}})
	if err == nil {
		t.Counts.Requests++
		_, err = t.Client.Do(ctx, httpapi.Request{Method: http.MethodPatch, Path: jobPath, Body: []byte(`{"state":"UploadComplete"}`)})
	}
	if err != nil {
		// Abort the open job so that Salesforce does not keep it; the
		// Write fails either way.
		if _, abortErr := t.Client.Do(context.WithoutCancel(ctx), httpapi.Request{Method: http.MethodPatch, Path: jobPath, Body: []byte(`{"state":"Aborted"}`)}); abortErr != nil {
			t.Log.Warn("abort bulk job", "job", job.ID, "err", abortErr)
		}
		return nil, fmt.Errorf("bulk job %s: upload: %w", job.ID, err)
	}
	t.Counts.Requests++
	job, err = t.poll(ctx, jobPath)
	if err != nil {
		return nil, fmt.Errorf("bulk job %s: %w", job.ID, err)
	}
	if job.State != jobComplete {
		return nil, fmt.Errorf("bulk job %s %s: %s", job.ID, job.State, t.Client.Redactor().Redact(job.ErrorMessage))
	}
	failed, err := t.results(ctx, jobPath+"/failedResults/", "sf__Error")
	if err != nil {
		return nil, fmt.Errorf("bulk job %s: %w", job.ID, err)
	}
	succeeded, err := t.results(ctx, jobPath+"/successfulResults/", "sf__Id")
	if err != nil {
		return nil, fmt.Errorf("bulk job %s: %w", job.ID, err)
	}
	delivered := make(map[string]string, len(recs))
	for _, r := range recs {
		if reason, ok := failed[r.ID]; ok {
			t.reject(b, r.Row, r.ID, "Salesforce: "+t.Client.Redactor().Redact(reason))
		} else if _, ok := succeeded[r.ID]; ok {
			delivered[r.ID] = r.Digest
			t.Counts.Sent++
		} else {
			t.reject(b, r.Row, r.ID, fmt.Sprintf("Salesforce bulk job %s reported no result for this record", job.ID))
		}
	}
	t.Log.Info("bulk job done", "job", job.ID, "processed", job.NumberRecordsProcessed, "failed", job.NumberRecordsFailed)
	return delivered, nil
}

// poll reads the job's state until it ends, waiting 1 s, then twice as
// long each time up to bulk_poll_max, for at most bulk_timeout.
func (t *Target) poll(ctx context.Context, jobPath string) (jobInfo, error) {
	deadline := t.Client.Now().Add(t.cfg.BulkTimeout)
	wait := time.Second
	for {
		if err := t.Client.Sleep(ctx, wait); err != nil {
			return jobInfo{}, err
		}
		resp, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodGet, Path: jobPath})
		if err != nil {
			return jobInfo{}, fmt.Errorf("poll: %w", err)
		}
		t.Counts.Requests++
		var job jobInfo
		if err := json.Unmarshal(resp.Body, &job); err != nil {
			return jobInfo{}, fmt.Errorf("poll: HTTP %d: the answer is not a job: %s: %s", resp.Status,
				httpapi.JSONProblem(err), t.Client.Redactor().Snippet(string(resp.Body), 200))
		}
		switch job.State {
		case jobComplete, jobFailed, jobAborted:
			return job, nil
		}
		if !t.Client.Now().Before(deadline) {
			return job, fmt.Errorf("still %s after %v (bulk_timeout); it may finish on its own: the batch is sent again on replay", job.State, t.cfg.BulkTimeout)
		}
		wait = min(2*wait, t.cfg.BulkPollMax)
	}
}

// results reads a job's result CSV into external id → the value of
// column want (the error, or the record id).
func (t *Target) results(ctx context.Context, path, want string) (map[string]string, error) {
	resp, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodGet, Path: path, Header: http.Header{"Accept": {"text/csv"}}})
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	t.Counts.Requests++
	r := csv.NewReader(bytes.NewReader(resp.Body))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	idCol, wantCol := -1, -1
	for i, h := range header {
		switch h {
		case t.cfg.ExternalID:
			idCol = i
		case want:
			wantCol = i
		}
	}
	if idCol < 0 || wantCol < 0 {
		return nil, fmt.Errorf("read results: no %s or %s column", t.cfg.ExternalID, want)
	}
	out := map[string]string{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read results: line %d: %w", line, err)
		}
		if idCol < len(rec) && wantCol < len(rec) {
			out[rec[idCol]] = rec[wantCol]
		}
	}
}

// csv writes the header and as many of recs as fit in maxUpload (at least
// one) as RFC 4180 CSV with LF line ends; it returns the CSV and how many
// records it holds. A null is an empty cell, which leaves the field as it
// is (as the Collections path leaves nulls out).
func (t *Target) csv(recs []httpapi.Record) ([]byte, int) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	row := make([]string, len(recs[0].Props))
	for i, p := range recs[0].Props {
		row[i] = p.Name
	}
	w.Write(row)
	n := 0
	for _, r := range recs {
		for i, p := range r.Props {
			row[i] = csvValue(p)
		}
		mark := buf.Len()
		w.Write(row)
		w.Flush()
		if n > 0 && buf.Len() > maxUpload {
			buf.Truncate(mark)
			break
		}
		n++
	}
	return buf.Bytes(), n
}

// csvValue is a property's text as the Bulk API reads it: timestamps in
// UTC with milliseconds.
func csvValue(p httpapi.Prop) string {
	if p.Null {
		return ""
	}
	if p.Type == etl.TypeTimestamp {
		if ts, err := time.Parse(time.RFC3339Nano, p.Value); err == nil {
			return ts.UTC().Format("2006-01-02T15:04:05.000Z")
		}
	}
	return p.Value
}
