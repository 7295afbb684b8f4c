// Package mailchimptest is an httptest server that behaves like the
// Mailchimp Marketing API's member endpoints, for the mailchimp target's
// tests: members upserted by subscriber hash with status_if_new, member
// tags, the 400 answers of members in compliance state, forgotten and fake
// addresses, a count of the connections and requests in flight, and the
// batch endpoint (batches.go).
package mailchimptest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"
)

// Member is a list member as the server holds it.
type Member struct {
	Email       string
	Status      string
	MergeFields map[string]any
	Language    string
	Tags        map[string]bool
}

// Server is the fake API. Its fields are guarded by its lock: use the
// methods.
type Server struct {
	*httptest.Server
	// Key is the API key the server accepts (as basic auth password).
	Key string

	mu        sync.Mutex
	lists     map[string]map[string]*Member // list → hash → member
	refuse    map[string]string             // lower email → 400 title
	delay     time.Duration
	conns     int
	maxConns  int
	inFlight  int
	maxFlight int
	requests  map[string]int
	bad       []string

	// the batch endpoint (batches.go)
	files      *httptest.Server
	batches    map[string]*batch
	nextBatch  int
	operations int
	throttle   int
	stallFrom  int
	rnd        *rand.Rand
}

// Start serves a fake API for list with the given key.
func Start(key string, lists ...string) *Server {
	s := &Server{Key: key, lists: map[string]map[string]*Member{}, refuse: map[string]string{}, requests: map[string]int{},
		batches: map[string]*batch{}, rnd: rand.New(rand.NewPCG(1, 2))}
	s.files = httptest.NewServer(http.HandlerFunc(s.serveFiles))
	for _, l := range lists {
		s.lists[l] = map[string]*Member{}
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Server.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch st {
		case http.StateNew:
			s.conns++
			s.maxConns = max(s.maxConns, s.conns)
		case http.StateClosed, http.StateHijacked:
			s.conns--
		}
	}
	s.Server.Start()
	return s
}

// Close stops the API and the results' server.
func (s *Server) Close() {
	s.files.Close()
	s.Server.Close()
}

// SetSeed seeds the shuffling of batch operations and results.
func (s *Server) SetSeed(seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rnd = rand.New(rand.NewPCG(seed, seed))
}

// BaseURL is the API's base, as base_url of a connection.
func (s *Server) BaseURL() string { return s.URL + "/3.0" }

// SetDelay makes every answer wait d, so that concurrency shows.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Refuse makes the server answer 400 with title for email: "Member In
// Compliance State", "Forgotten Email Not Subscribed" or "Invalid
// Resource" (a fake or invalid address).
func (s *Server) Refuse(email, title string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse[strings.ToLower(email)] = title
}

// Put sets a member directly, as if changed in Mailchimp's UI.
func (s *Server) Put(list string, m Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Tags == nil {
		m.Tags = map[string]bool{}
	}
	s.lists[list][Hash(m.Email)] = &m
}

// Delete removes a member, as an archive in Mailchimp's UI would.
func (s *Server) Delete(list, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.lists[list], Hash(email))
}

// Member returns a copy of a member; ok is false when absent.
func (s *Server) Member(list, email string) (Member, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.lists[list][Hash(email)]
	if !ok {
		return Member{}, false
	}
	c := *m
	c.Tags = map[string]bool{}
	for t, on := range m.Tags {
		c.Tags[t] = on
	}
	return c, true
}

// Tagged lists the emails of list's members that carry tag, sorted.
func (s *Server) Tagged(list, tag string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.lists[list] {
		if m.Tags[tag] {
			out = append(out, m.Email)
		}
	}
	sort.Strings(out)
	return out
}

// MaxConns is the most connections that were open at once; MaxInFlight
// the most requests being answered at once.
func (s *Server) MaxConns() (conns, inFlight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxConns, s.maxFlight
}

// Requests counts the requests answered by "METHOD kind" (member, tags).
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// Bad lists the requests the server found malformed.
func (s *Server) Bad() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bad...)
}

// Hash is the subscriber hash of email.
func Hash(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(email)))
	return hex.EncodeToString(sum[:])
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "https://mailchimp.com/developer/marketing/docs/errors/",
		"title": title, "status": status, "detail": detail, "instance": "00000000-0000-0000-0000-000000000000"})
}

var statuses = map[string]bool{"subscribed": true, "unsubscribed": true, "cleaned": true, "pending": true, "transactional": true}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.inFlight++
	s.maxFlight = max(s.maxFlight, s.inFlight)
	delay := s.delay
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if delay > 0 {
		time.Sleep(delay)
	}
	if _, pw, ok := r.BasicAuth(); !ok || pw != s.Key {
		problem(w, http.StatusUnauthorized, "API Key Invalid", "Your API key may be invalid, or you've attempted to access the wrong datacenter.")
		return
	}
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, "/3.0")
	switch {
	case path == "/batches" && r.Method == http.MethodPost:
		s.postBatch(w, body)
	case strings.HasPrefix(path, "/batches/") && r.Method == http.MethodGet:
		s.getBatch(w, strings.TrimPrefix(path, "/batches/"))
	default:
		s.route(w, r.Method, path, body)
	}
}

// route answers a member request (on its own or as a batch operation):
// path is relative to /3.0.
func (s *Server) route(w http.ResponseWriter, method, path string, body []byte) {
	// /lists/{list}/members/{hash}[/tags]
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 4 || parts[0] != "lists" || parts[2] != "members" {
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list, ok := s.lists[parts[1]]
	if !ok {
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	hash := parts[3]
	switch {
	case len(parts) == 4 && method == http.MethodPut:
		s.requests["PUT member"]++
		s.putMember(w, list, hash, body)
	case len(parts) == 5 && parts[4] == "tags" && method == http.MethodPost:
		s.requests["POST tags"]++
		s.postTags(w, list, hash, body)
	default:
		problem(w, http.StatusMethodNotAllowed, "Method Not Allowed", method+" "+path)
	}
}

func (s *Server) putMember(w http.ResponseWriter, list map[string]*Member, hash string, body []byte) {
	var in struct {
		Email       *string        `json:"email_address"`
		StatusIfNew *string        `json:"status_if_new"`
		Status      *string        `json:"status"`
		MergeFields map[string]any `json:"merge_fields"`
		Language    *string        `json:"language"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.Email == nil || in.StatusIfNew == nil {
		s.bad = append(s.bad, fmt.Sprintf("PUT member %s: %v: %s", hash, err, body))
		problem(w, http.StatusBadRequest, "Invalid Resource", "The resource submitted could not be validated.")
		return
	}
	if Hash(*in.Email) != hash {
		s.bad = append(s.bad, fmt.Sprintf("PUT member %s: hash is not md5(lower(%q))", hash, *in.Email))
		problem(w, http.StatusBadRequest, "Invalid Resource", "The subscriber hash does not match the email address.")
		return
	}
	if !statuses[*in.StatusIfNew] || (in.Status != nil && !statuses[*in.Status]) {
		problem(w, http.StatusBadRequest, "Invalid Resource", "The resource submitted could not be validated.")
		return
	}
	if title, ok := s.refuse[strings.ToLower(*in.Email)]; ok {
		detail := *in.Email + " is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed."
		switch title {
		case "Invalid Resource":
			detail = *in.Email + " looks fake or invalid, please enter a real email address."
		case "Forgotten Email Not Subscribed":
			detail = *in.Email + " was permanently deleted and cannot be re-imported. The contact must re-subscribe to get back on the list."
		}
		problem(w, http.StatusBadRequest, title, detail)
		return
	}
	m, ok := list[hash]
	if !ok {
		m = &Member{Email: *in.Email, Status: *in.StatusIfNew, MergeFields: map[string]any{}, Tags: map[string]bool{}}
		list[hash] = m
	}
	if in.Status != nil {
		m.Status = *in.Status
	}
	if in.Language != nil {
		m.Language = *in.Language
	}
	for k, v := range in.MergeFields {
		m.MergeFields[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": hash, "email_address": m.Email, "status": m.Status, "merge_fields": m.MergeFields})
}

func (s *Server) postTags(w http.ResponseWriter, list map[string]*Member, hash string, body []byte) {
	var in struct {
		Tags []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Tags == nil {
		s.bad = append(s.bad, fmt.Sprintf("POST tags %s: %v: %s", hash, err, body))
		problem(w, http.StatusBadRequest, "Invalid Resource", "The resource submitted could not be validated.")
		return
	}
	m, ok := list[hash]
	if !ok {
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	for _, t := range in.Tags {
		switch t.Status {
		case "active":
			m.Tags[t.Name] = true
		case "inactive":
			delete(m.Tags, t.Name)
		default:
			s.bad = append(s.bad, fmt.Sprintf("POST tags %s: status %q", hash, t.Status))
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
