package hubspot_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// emulator is an httptest server that behaves as HubSpot's batch upsert
// endpoint is documented to: bearer auth, at most 100 inputs (101 → 400),
// duplicate ids → 400, 207 with errors matched by objectWriteTraceId,
// 429 with Retry-After, the daily-limit 429, 503 bursts.
type emulator struct {
	*httptest.Server
	token string
	now   func() time.Time

	mu       sync.Mutex
	records  map[string]map[string]string // object/id → properties
	requests int
	inputs   int // inputs accepted (upserted)
	seen     map[string]int
	bodies   [][]byte
	statuses []int
	authSeen []string

	// Behaviours, set before use.
	throttleFirst int                                   // the first N requests get 429 + Retry-After
	retryAfter    string                                // Retry-After value for those
	failFirst     int                                   // the first N requests get 503
	down          func(now time.Time, request int) bool // 503 while true
	daily         bool                                  // every request gets the daily-limit 429
	invalid       map[string]string                     // id → per-record error message (207)
	silent        map[string]bool                       // id → neither result nor error (207)
	badProperty   map[string]bool                       // id whose presence fails the whole batch (400)
	limiter       *rate.Limiter                         // 429 when exceeded (the benchmark)
	throttled     int

	// Follow-ups (associations, notes): see emulator_follow_test.go.
	ids          map[string]string // object/key → HubSpot id
	byID         map[string]string // HubSpot id → object/key
	links        map[string]bool   // "from->to/type" made
	notes        map[string]map[string]string
	noteLinks    map[string]string // note id → record id
	omitIDs      bool              // 200 contact upserts answer without results
	linkFail     map[string]string // from id → association error
	paths        []string
	noteRequests int
}

func newEmulator(t testing.TB, token string) *emulator {
	e := &emulator{token: token, now: time.Now, records: map[string]map[string]string{}, seen: map[string]int{}, retryAfter: "2",
		ids: map[string]string{}, byID: map[string]string{}, links: map[string]bool{}, notes: map[string]map[string]string{}, noteLinks: map[string]string{}}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

type upsertInput struct {
	ID                 string            `json:"id"`
	IDProperty         string            `json:"idProperty"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId"`
	Properties         map[string]string `json:"properties"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func hubError(msg, category string) map[string]any {
	return map[string]any{"status": "error", "message": msg, "category": category}
}

func (e *emulator) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests++
	n := e.requests
	status := 0
	defer func() { e.statuses = append(e.statuses, status) }()
	auth := r.Header.Get("Authorization")
	e.authSeen = append(e.authSeen, auth)
	if auth != "Bearer "+e.token {
		status = 401
		// Echo the credential, as careless APIs do: the client must not
		// pass it on.
		writeJSON(w, status, hubError("invalid authentication: "+auth, "INVALID_AUTHENTICATION"))
		return
	}
	if e.limiter != nil && !e.limiter.Allow() {
		e.throttled++
		status = 429
		w.Header().Set("Retry-After", "1")
		writeJSON(w, status, map[string]any{"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"})
		return
	}
	if e.daily {
		status = 429
		writeJSON(w, status, map[string]any{"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT", "policyName": "DAILY"})
		return
	}
	if n <= e.throttleFirst {
		status = 429
		w.Header().Set("Retry-After", e.retryAfter)
		writeJSON(w, status, map[string]any{"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"})
		return
	}
	if n <= e.failFirst || (e.down != nil && e.down(e.now(), n)) {
		status = 503
		writeJSON(w, status, hubError("Service Unavailable", "SERVICE_UNAVAILABLE"))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if handled, st := e.serveFollowUps(w, r, parts); handled {
		status = st
		return
	}
	if len(parts) != 6 || parts[0] != "crm" || parts[1] != "v3" || parts[2] != "objects" || parts[4] != "batch" || parts[5] != "upsert" || r.Method != http.MethodPost {
		status = 404
		writeJSON(w, status, hubError("no such endpoint", "OBJECT_NOT_FOUND"))
		return
	}
	object := parts[3]
	var body struct {
		Inputs []upsertInput `json:"inputs"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		status = 400
		writeJSON(w, status, hubError("invalid JSON: "+err.Error(), "VALIDATION_ERROR"))
		return
	}
	if b, err := json.Marshal(body); err == nil {
		e.bodies = append(e.bodies, b)
	}
	if len(body.Inputs) > 100 {
		status = 400
		writeJSON(w, status, hubError(fmt.Sprintf("Batch input has %d inputs; the limit is 100", len(body.Inputs)), "VALIDATION_ERROR"))
		return
	}
	ids := map[string]bool{}
	for _, in := range body.Inputs {
		if ids[in.ID] {
			status = 400
			writeJSON(w, status, hubError("Duplicate IDs found in batch input: "+in.ID, "VALIDATION_ERROR"))
			return
		}
		ids[in.ID] = true
		if e.badProperty[in.ID] {
			status = 400
			writeJSON(w, status, hubError("Property \"lead_score\" value \"abc\" is not a number (id "+in.ID+")", "VALIDATION_ERROR"))
			return
		}
	}
	var results, errs []map[string]any
	for _, in := range body.Inputs {
		if msg, bad := e.invalid[in.ID]; bad {
			errs = append(errs, map[string]any{"status": "error", "message": msg, "category": "VALIDATION_ERROR",
				"context": map[string][]string{"objectWriteTraceId": {in.ObjectWriteTraceID}}})
			continue
		}
		if e.silent[in.ID] {
			continue
		}
		key := object + "/" + in.ID
		_, existed := e.records[key]
		props := map[string]string{}
		for k, v := range e.records[key] {
			props[k] = v
		}
		for k, v := range in.Properties {
			props[k] = v
		}
		e.records[key] = props
		e.inputs++
		e.seen[key]++
		results = append(results, map[string]any{"id": e.idOf(key), "objectWriteTraceId": in.ObjectWriteTraceID,
			"new": !existed, "archived": false, "properties": props})
	}
	status = 200
	if len(errs) > 0 || len(results) < len(body.Inputs) {
		status = 207
	} else if e.omitIDs && object == "contacts" {
		results = nil
	}
	w.Header().Set("X-HubSpot-RateLimit-Max", "1000")
	w.Header().Set("X-HubSpot-RateLimit-Remaining", "999")
	w.Header().Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
	writeJSON(w, status, map[string]any{"status": "COMPLETE", "startedAt": "2026-11-25T02:00:00Z", "completedAt": "2026-11-25T02:00:01Z",
		"results": results, "errors": errs, "numErrors": len(errs)})
}

func (e *emulator) count(f func(e *emulator) int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return f(e)
}
