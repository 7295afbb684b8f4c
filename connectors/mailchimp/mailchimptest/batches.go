package mailchimptest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// The batch endpoint: POST /batches takes operations, GET /batches/{id}
// tells pending, then started, then finished (each look moves it on, when
// not stalled); the operations run, in a shuffled order, when the batch
// finishes, and their results are a gzipped tar of JSON files (at most
// seven results each, shuffled too) served by a second server, another
// origin, at a signed address that must be fetched without credentials.

type operation struct {
	Method      string         `json:"method"`
	Path        string         `json:"path"`
	Body        string         `json:"body"`
	OperationID string         `json:"operation_id"`
	Params      map[string]any `json:"params"`
}

type result struct {
	StatusCode  int    `json:"status_code"`
	OperationID string `json:"operation_id"`
	Response    string `json:"response"`
}

type batch struct {
	id        string
	n         int
	ops       []operation
	looks     int
	throttled int
	running   bool
	archive   []byte
	errored   int
	submitted time.Time
}

var methods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}

// SetBatchThrottle makes the first n looks at every batch answer 429 with
// Retry-After: 1.
func (s *Server) SetBatchThrottle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// SetBatchStall keeps every batch started, never finished, while on.
func (s *Server) SetBatchStall(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stallFrom = 0
	if on {
		s.stallFrom = 1
	}
}

// SetBatchStallFrom keeps the n-th batch submitted (from 1) and those
// after it started, never finished; 0 stalls none.
func (s *Server) SetBatchStallFrom(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stallFrom = n
}

// ForgetBatches drops every batch: a look at one is answered 404, as
// Mailchimp does for a batch it no longer keeps.
func (s *Server) ForgetBatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = map[string]*batch{}
}

// Operations counts the batch operations submitted, over all batches.
func (s *Server) Operations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.operations
}

func (s *Server) postBatch(w http.ResponseWriter, body []byte) {
	var in struct {
		Operations []operation `json:"operations"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(&in)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests["POST batches"]++
	if err == nil && len(in.Operations) == 0 {
		err = fmt.Errorf("no operations")
	}
	for i, op := range in.Operations {
		if err == nil && (!methods[op.Method] || !strings.HasPrefix(op.Path, "/") || op.OperationID == "") {
			err = fmt.Errorf("operation %d: method %q, path %q, operation_id %q", i, op.Method, op.Path, op.OperationID)
		}
	}
	if err != nil {
		s.bad = append(s.bad, fmt.Sprintf("POST batches: %v", err))
		problem(w, http.StatusBadRequest, "Invalid Resource", "The resource submitted could not be validated.")
		return
	}
	s.nextBatch++
	b := &batch{id: fmt.Sprintf("b%04d", s.nextBatch), n: s.nextBatch, ops: in.Operations, submitted: time.Now().UTC()}
	s.batches[b.id] = b
	s.operations += len(in.Operations)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.status(b, "pending"))
}

func (s *Server) status(b *batch, status string) map[string]any {
	out := map[string]any{"id": b.id, "status": status, "total_operations": len(b.ops), "finished_operations": 0,
		"errored_operations": 0, "submitted_at": b.submitted.Format(time.RFC3339), "completed_at": "", "response_body_url": ""}
	if status == "finished" {
		out["finished_operations"], out["errored_operations"] = len(b.ops), b.errored
		out["completed_at"] = b.submitted.Format(time.RFC3339)
		out["response_body_url"] = s.files.URL + "/results/" + b.id + ".tar.gz?X-Amz-Signature=0a1b2c"
	}
	return out
}

func (s *Server) getBatch(w http.ResponseWriter, id string) {
	s.mu.Lock()
	s.requests["GET batch"]++
	b, ok := s.batches[id]
	if !ok {
		s.mu.Unlock()
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	if b.throttled < s.throttle {
		b.throttled++
		s.requests["GET batch 429"]++
		s.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusTooManyRequests, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")
		return
	}
	b.looks++
	status := "finished"
	switch {
	case b.looks == 1:
		status = "pending"
	case b.looks == 2 || (s.stallFrom > 0 && b.n >= s.stallFrom):
		status = "started"
	}
	run := status == "finished" && b.archive == nil && !b.running
	b.running = b.running || run
	order := s.rnd.Perm(len(b.ops))
	s.mu.Unlock()
	if run {
		results := make([]result, len(b.ops))
		errored := 0
		for k, i := range order {
			op := b.ops[i]
			rec := httptest.NewRecorder()
			s.route(rec, op.Method, op.Path, []byte(op.Body))
			results[k] = result{StatusCode: rec.Code, OperationID: op.OperationID, Response: rec.Body.String()}
			if rec.Code >= 300 {
				errored++
			}
		}
		archive := tarball(b.id, results)
		s.mu.Lock()
		b.archive, b.errored = archive, errored
		s.mu.Unlock()
	}
	s.mu.Lock()
	out := s.status(b, status)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// tarball is Mailchimp's results archive: a directory named after the
// batch holding JSON files of at most seven results each.
func tarball(id string, results []result) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: id + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	for n := 0; n*7 < len(results); n++ {
		part, _ := json.Marshal(results[n*7 : min(len(results), n*7+7)])
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s/%d.json", id, n), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(part))})
		tw.Write(part)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// serveFiles is the results' server: a download carrying credentials is
// recorded as malformed (the API key must not leave Mailchimp's API).
func (s *Server) serveFiles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests["GET results"]++
	if r.Header.Get("Authorization") != "" {
		s.bad = append(s.bad, "results download carried credentials")
	}
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/results/"), ".tar.gz")
	b, ok := s.batches[id]
	if !ok || b.archive == nil || r.URL.Query().Get("X-Amz-Signature") == "" {
		http.Error(w, "AccessDenied", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Write(b.archive)
}
