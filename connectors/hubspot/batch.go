package hubspot

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
)

// batchResponse is the 200 / 201 / 207 answer of a CRM v3 batch call
// (upsert, read, create, update).
type batchResponse struct {
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

// Input states of a reconciled batch answer.
const (
	unknown = iota
	done
	failed
)

// outcome is a batch answer matched to its inputs, by index.
type outcome struct {
	state  []int
	ids    []string // the HubSpot id of each done input, when the answer gave it
	reason []string // HubSpot's message for each failed input
	// unmatched is an error no input could be matched to.
	unmatched string
}

// reconcile matches a batch answer to n inputs: results and errors by
// objectWriteTraceId (the input's index), else by key (byKey maps an error's
// context id, or keyOf of a result, to the input index, after norm). A
// status other than 207 means every input succeeded; results then only give
// the ids, and with positional set (creates, whose results may carry no
// trace id) results without one are taken in input order.
func reconcile(resp *httpapi.Response, n int, byKey map[string]int, keyOf func(id string, props map[string]string) string,
	norm func(string) string, positional bool, red *httpapi.Redactor) (outcome, error) {
	o := outcome{state: make([]int, n), ids: make([]string, n), reason: make([]string, n)}
	var br batchResponse
	if err := json.Unmarshal(resp.Body, &br); err != nil {
		if resp.Status != http.StatusMultiStatus {
			for k := range o.state {
				o.state[k] = done
			}
			return o, nil
		}
		return o, fmt.Errorf("HTTP %d: the answer is not a batch result: %s: %s", resp.Status, httpapi.JSONProblem(err),
			red.Snippet(string(resp.Body), 200))
	}
	traceIndex := func(s string) (int, bool) {
		k, err := strconv.Atoi(s)
		return k, err == nil && k >= 0 && k < n
	}
	lookup := func(key string) (int, bool) {
		if byKey == nil {
			return 0, false
		}
		k, ok := byKey[norm(key)]
		return k, ok
	}
	for _, e := range br.Errors {
		msg := red.Redact(e.Message)
		if e.Category != "" {
			msg = e.Category + ": " + msg
		}
		matched := false
		for _, tr := range e.Context["objectWriteTraceId"] {
			if k, ok := traceIndex(tr); ok {
				o.state[k], o.reason[k], matched = failed, msg, true
			}
		}
		for _, id := range e.Context["ids"] {
			if k, ok := lookup(id); ok && o.state[k] == unknown {
				o.state[k], o.reason[k], matched = failed, msg, true
			}
		}
		if !matched {
			o.unmatched = msg
		}
	}
	next := 0 // the next input a positional result goes to
	for _, res := range br.Results {
		k, ok := traceIndex(res.ObjectWriteTraceID)
		if !ok && keyOf != nil {
			k, ok = lookup(keyOf(res.ID, res.Properties))
		}
		if !ok && positional && res.ObjectWriteTraceID == "" && len(br.Results) == n {
			k, ok = next, true
		}
		next++
		if ok && o.state[k] == unknown {
			o.state[k], o.ids[k] = done, res.ID
		}
	}
	if resp.Status != http.StatusMultiStatus {
		for k := range o.state {
			if o.state[k] == unknown {
				o.state[k] = done
			}
		}
	}
	return o, nil
}

// missing is the reason an input is neither done nor failed.
func (o *outcome) missing(status int) string {
	why := fmt.Sprintf("HubSpot answered HTTP %d without a result for this input", status)
	if o.unmatched != "" {
		why += ": " + o.unmatched
	}
	return why
}

// caseless reports whether a property's values compare without case
// (emails and domains, which HubSpot stores in lower case).
func caseless(property string) bool { return property == "email" || property == "domain" }

// normFor returns the key normalisation for property.
func normFor(property string) func(string) string {
	if caseless(property) {
		return func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
	}
	return strings.TrimSpace
}
