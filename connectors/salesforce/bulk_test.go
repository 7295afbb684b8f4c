package salesforce_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/connectors/salesforce"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// bulkJob is one emulated ingest job.
type bulkJob struct {
	state, object, extID string
	csv                  []byte
	polls                int
	failed, succeeded    [][]string // result rows
	header               []string
}

// bulkState emulates the Bulk API 2.0 job state machine: Open (uploads
// allowed) → UploadComplete → InProgress (for inProgressPolls polls) →
// JobComplete, or Failed with failWith. Results are served only once the
// job is complete, as CSV: sf__Id, sf__Error / sf__Created, then the
// uploaded columns.
type bulkState struct {
	jobs            map[string]*bulkJob
	order           []string
	calls           []string
	inProgressPolls int
	failWith        string
	beforeUpload    func() // called (under the lock) before an upload is served
}

func (o *org) serveBulk(w http.ResponseWriter, r *http.Request) {
	b := &o.bulk
	if b.jobs == nil {
		b.jobs = map[string]*bulkJob{}
	}
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/services/data/v62.0/jobs/ingest"), "/")
	parts := strings.Split(rest, "/")
	b.calls = append(b.calls, r.Method+" "+strings.Join(parts[1:], "/"))
	if rest == "" && r.Method == http.MethodPost {
		var req map[string]string
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req["operation"] != "upsert" || req["contentType"] != "CSV" ||
			req["externalIdFieldName"] == "" || req["object"] == "" || req["lineEnding"] != "LF" {
			sfError(w, 400, "INVALIDJOB", fmt.Sprintf("bad job request %v", req))
			return
		}
		id := fmt.Sprintf("7505f000%07dAAA", len(b.jobs)+1)
		b.jobs[id] = &bulkJob{state: "Open", object: req["object"], extID: req["externalIdFieldName"]}
		b.order = append(b.order, id)
		writeSF(w, 200, map[string]any{"id": id, "state": "Open", "object": req["object"], "operation": "upsert"})
		return
	}
	job := b.jobs[parts[0]]
	if job == nil {
		sfError(w, 404, "NOT_FOUND", "no such job")
		return
	}
	switch {
	case len(parts) == 2 && parts[1] == "batches" && r.Method == http.MethodPut:
		if b.beforeUpload != nil {
			b.beforeUpload()
		}
		if job.state != "Open" || r.Header.Get("Content-Type") != "text/csv" {
			sfError(w, 400, "INVALIDJOBSTATE", "upload needs an Open job and text/csv, got "+job.state)
			return
		}
		job.csv, _ = io.ReadAll(r.Body)
		w.WriteHeader(201)
	case len(parts) == 1 && r.Method == http.MethodPatch:
		var req map[string]string
		json.NewDecoder(r.Body).Decode(&req)
		switch {
		case req["state"] == "UploadComplete" && job.state == "Open":
			job.state = "UploadComplete"
		case req["state"] == "Aborted":
			job.state = "Aborted"
		default:
			sfError(w, 400, "INVALIDJOBSTATE", "cannot go from "+job.state+" to "+req["state"])
			return
		}
		writeSF(w, 200, map[string]any{"id": parts[0], "state": job.state})
	case len(parts) == 1 && r.Method == http.MethodGet:
		if job.state == "UploadComplete" || job.state == "InProgress" {
			job.state = "InProgress"
			job.polls++
			if job.polls > b.inProgressPolls {
				o.process(job)
			}
		}
		info := map[string]any{"id": parts[0], "state": job.state, "numberRecordsProcessed": len(job.failed) + len(job.succeeded),
			"numberRecordsFailed": len(job.failed)}
		if job.state == "Failed" {
			info["errorMessage"] = b.failWith
		}
		writeSF(w, 200, info)
	case len(parts) == 2 && r.Method == http.MethodGet && (parts[1] == "failedResults" || parts[1] == "successfulResults"):
		if job.state != "JobComplete" && job.state != "Failed" {
			sfError(w, 400, "INVALIDJOBSTATE", "results of a job in state "+job.state)
			return
		}
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		rows := job.succeeded
		first := []string{"sf__Id", "sf__Created"}
		if parts[1] == "failedResults" {
			rows, first = job.failed, []string{"sf__Id", "sf__Error"}
		}
		cw.Write(append(first, job.header...))
		cw.WriteAll(rows)
		w.Header().Set("Content-Type", "text/csv")
		w.Write(buf.Bytes())
	default:
		sfError(w, 404, "NOT_FOUND", r.Method+" "+r.URL.Path)
	}
}

func writeSF(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// process runs a job as Salesforce would: the CSV parsed per RFC 4180,
// rows without a LastName failed, others upserted (an empty cell leaves
// the field alone).
func (o *org) process(job *bulkJob) {
	if o.bulk.failWith != "" {
		job.state = "Failed"
		return
	}
	rows, err := csv.NewReader(bytes.NewReader(job.csv)).ReadAll()
	if err != nil || len(rows) == 0 {
		job.state, o.bulk.failWith = "Failed", fmt.Sprintf("InvalidBatch : %v", err)
		return
	}
	job.header = rows[0]
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, row := range rows[1:] {
		id := row[col[job.extID]]
		if i, ok := col["LastName"]; !ok || row[i] == "" {
			if _, had := o.leads[id]["LastName"]; !had {
				job.failed = append(job.failed, append([]string{"", "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"}, row...))
				continue
			}
		}
		rec := o.leads[id]
		if rec == nil {
			rec = map[string]any{}
		}
		for h, i := range col {
			if row[i] != "" {
				rec[h] = row[i]
			}
		}
		_, existed := o.leads[id]
		o.leads[id] = rec
		job.succeeded = append(job.succeeded, append([]string{"00Q" + id, fmt.Sprint(!existed)}, row...))
	}
	job.state = "JobComplete"
}

func openBulk(t *testing.T, o *org, threshold int) (*salesforce.Target, *etltest.Clock, *fingerprints) {
	t.Helper()
	cfg := salesforce.DefaultConnConfig()
	cfg.InstanceURL, cfg.Token = o.URL, token
	tg, err := salesforce.New(salesforce.TargetConfig{Object: "Lead", ExternalID: "Lead_Ext_Id__c", BulkThreshold: threshold,
		Map: map[string]string{"Lead_Ext_Id__c": "lead_id", "LastName": "last_name", "Score__c": "score", "Hot__c": "hot"}},
		etl.BuildEnv{Connection: &etl.Connection{Name: "sfdc", Type: "salesforce", Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	clock := etltest.NewClock(time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC))
	fp := &fingerprints{m: map[string]string{}}
	if err := tg.Open(context.Background(), etl.TargetEnv{Name: "targets[1] crm Lead", Clock: clock, Logger: (&httpapitest.LogBuffer{}).Logger(), Fingerprints: fp}); err != nil {
		t.Fatal(err)
	}
	return tg, clock, fp
}

func TestBulkIngestAboveThreshold(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	o.bulk.inProgressPolls = 3
	tg, clock, fp := openBulk(t, o, 100)
	b := leads(300)
	b.Cols[1].Str[3] = "O'Brien, \"Jr\"\nthe second" // quotes, comma, line break
	if err := tg.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(o.sizes) != 0 || len(o.bulk.order) != 1 {
		t.Fatalf("%d Collections calls, %d jobs; want one bulk job only", len(o.sizes), len(o.bulk.order))
	}
	want := []string{"POST ", "PUT batches", "PATCH ", "GET ", "GET ", "GET ", "GET ", "GET failedResults", "GET successfulResults"}
	if diff := cmp.Diff(want, o.bulk.calls); diff != "" {
		t.Errorf("job calls (-want +got):\n%s", diff)
	}
	// Polls back off 1 s, 2 s, 4 s, 8 s on the fake clock (plus the rate
	// limit's spacing of 25 requests per second): no real sleep.
	if got := clock.Slept(); got < 15*time.Second || got > 16*time.Second {
		t.Errorf("slept %v between polls, want 15s", got)
	}
	if got := o.leads["L-3"]["LastName"]; got != "O'Brien, \"Jr\"\nthe second" {
		t.Errorf("L-3 LastName = %q: the CSV did not round-trip", got)
	}
	if got := o.leads["L-10"]; got["Score__c"] != "10" || got["Hot__c"] != "true" {
		t.Errorf("L-10 = %v", got)
	}
	rejects := tg.TakeRejects()
	var lines []int64
	for _, r := range rejects {
		lines = append(lines, r.Origin.Line)
		if r.Reason != "Salesforce: REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --" || r.Field != "lead_id" {
			t.Errorf("reject %+v", r)
		}
	}
	if diff := cmp.Diff([]int64{9, 59, 109, 159, 209, 259}, lines); diff != "" {
		t.Errorf("rejected lines (-want +got):\n%s", diff)
	}
	if s := tg.Stats(); s.Sent != 294 || s.Rejected != 6 || s.Requests != 9 {
		t.Errorf("stats %+v, want 294 sent, 6 rejected, 9 requests", s)
	}
	if len(fp.m) != 294 {
		t.Errorf("%d fingerprints, want the 294 delivered", len(fp.m))
	}
	// Again, with L-3's original name: the 6 refused and L-3 are below
	// the threshold and go by Collections.
	if err := tg.Write(context.Background(), leads(300)); err != nil {
		t.Fatal(err)
	}
	if len(o.bulk.order) != 1 || len(o.sizes) != 1 || o.sizes[0] != 7 {
		t.Errorf("second write: %d jobs, Collections sizes %v; want one call of 7", len(o.bulk.order), o.sizes)
	}
}

func TestBulkJobFailureFailsTheWrite(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	o.bulk.failWith = "InvalidBatch : Field name not found : Score__c"
	tg, _, fp := openBulk(t, o, 10)
	err := tg.Write(context.Background(), leads(20))
	if err == nil || !strings.Contains(err.Error(), "Failed: InvalidBatch : Field name not found : Score__c") {
		t.Fatalf("err = %v, want the job's error message", err)
	}
	if len(fp.m) != 0 || len(tg.TakeRejects()) != 0 || tg.Stats().Sent != 0 {
		t.Errorf("a failed job delivered something: %d fingerprints, stats %+v", len(fp.m), tg.Stats())
	}
	if strings.Contains(err.Error(), token) {
		t.Error("token in error")
	}
}

func TestBulkJobTimeout(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	o.bulk.inProgressPolls = 1 << 30
	tg, clock, _ := openBulk(t, o, 10)
	err := tg.Write(context.Background(), leads(20))
	if err == nil || !strings.Contains(err.Error(), "still InProgress after 1h0m0s") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	// 1+2+…+16+30+30… s until the hour is over: about 2 minutes of polls.
	if s := clock.Slept(); s < time.Hour || s > time.Hour+time.Minute {
		t.Errorf("slept %v, want just over the hour", s)
	}
}

func TestBulkUploadIsAbortedWhenItFails(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	tg, _, _ := openBulk(t, o, 10)
	// Another caller closes the job before the upload: Salesforce refuses
	// the upload, and the target aborts the job.
	o.bulk.beforeUpload = func() {
		for _, j := range o.bulk.jobs {
			j.state = "UploadComplete"
		}
	}
	err := tg.Write(context.Background(), leads(20))
	if err == nil || !strings.Contains(err.Error(), "INVALIDJOBSTATE") {
		t.Fatalf("err = %v", err)
	}
	if got := o.bulk.calls[len(o.bulk.calls)-1]; got != "PATCH " || o.bulk.jobs[o.bulk.order[0]].state != "Aborted" {
		t.Errorf("last call %q, job state %s; want the job aborted", got, o.bulk.jobs[o.bulk.order[0]].state)
	}
}
