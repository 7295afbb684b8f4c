// Package zendesktest is a test server that behaves like the parts of
// Zendesk Support the helpdesk target uses, with state: tickets (created
// with an Idempotency-Key, listed by external_id, updated with comments
// and fields), their comments, and users upserted through
// create_or_update_many jobs. It checks basic auth and the fields' values
// as Zendesk does, and can fail or stop answering at a chosen request, so
// tests can put a crash between Zendesk doing the work and the client
// hearing of it.
package zendesktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Ticket is a ticket the server holds.
type Ticket struct {
	ID         int64    `json:"id"`
	ExternalID string   `json:"external_id"`
	Subject    string   `json:"subject"`
	Status     string   `json:"status"`
	Priority   string   `json:"priority"`
	Tags       []string `json:"tags"`
	Requester  string   `json:"-"`
	Comments   []string `json:"-"`
}

// User is a user the server holds.
type User struct {
	ID    int64          `json:"id"`
	Email string         `json:"email"`
	Name  string         `json:"name"`
	Extra map[string]any `json:"-"`
}

// Server is the fake Zendesk. Its exported hooks are set before use.
type Server struct {
	*httptest.Server
	// User and Token are the basic credentials it takes (User/token).
	User, Token string
	// ForgetIdempotency makes the server ignore Idempotency-Key, as
	// Zendesk does once a key is older than two hours.
	ForgetIdempotency bool
	// Throttle makes the next Throttle requests answer 429 with
	// Retry-After: 7 (and X-Rate-Limit-Remaining: 0), doing nothing.
	Throttle int

	mu           sync.Mutex
	beforeAnswer func(n int, r *http.Request) (drop bool)
	requests     int
	nextID       int64
	tickets      []*Ticket
	idem         map[string]int64
	users        map[string]*User
	jobs         map[string][]map[string]any
	jobPolls     map[string]int
	badEmails    map[string]string
}

// New starts a server; it is closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{User: "agent@example.com", Token: "zd-t0ken-5ecret", nextID: 1000,
		idem: map[string]int64{}, users: map[string]*User{}, jobs: map[string][]map[string]any{},
		jobPolls: map[string]int{}, badEmails: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// SetBeforeAnswer sets a hook called after a request changed the state
// and before it is answered, with the request's number (from 1): a test
// kills the client there, or returns true to drop the answer (the
// connection is closed unanswered). nil removes it.
func (s *Server) SetBeforeAnswer(f func(n int, r *http.Request) (drop bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeAnswer = f
}

// RefuseEmail makes create_or_update_many fail the user with this email
// with the given error (as Zendesk does for an address it refuses).
func (s *Server) RefuseEmail(email, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.badEmails[email] = why
}

// Tickets returns a copy of the tickets, in creation order.
func (s *Server) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Ticket, len(s.tickets))
	for i, t := range s.tickets {
		out[i] = *t
		out[i].Comments = slices.Clone(t.Comments)
		out[i].Tags = slices.Clone(t.Tags)
	}
	return out
}

// Users returns a copy of the users by email.
func (s *Server) Users() map[string]User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]User{}
	for k, u := range s.users {
		out[k] = *u
	}
	return out
}

// Requests is how many requests the server got.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != s.User+"/token" || p != s.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "Couldn't authenticate you"})
		return
	}
	var body map[string]json.RawMessage
	if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "InvalidJSON", "description": err.Error()})
			return
		}
	}
	s.mu.Lock()
	s.requests++
	n := s.requests
	if s.Throttle > 0 {
		s.Throttle--
		s.mu.Unlock()
		w.Header().Set("Retry-After", "7")
		w.Header().Set("X-Rate-Limit", "700")
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "TooManyRequests"})
		return
	}
	status, answer := s.route(r, body)
	hook := s.beforeAnswer
	s.mu.Unlock()
	if hook != nil && hook(n, r) {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
	}
	w.Header().Set("X-Rate-Limit", "700")
	w.Header().Set("X-Rate-Limit-Remaining", "699")
	writeJSON(w, status, answer)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func invalid(field, why string) (int, any) {
	return http.StatusUnprocessableEntity, map[string]any{"error": "RecordInvalid", "description": "Record validation errors",
		"details": map[string]any{field: []map[string]any{{"description": why}}}}
}

type ticketInput struct {
	Subject    *string   `json:"subject"`
	Status     *string   `json:"status"`
	Priority   *string   `json:"priority"`
	Type       *string   `json:"type"`
	Tags       *[]string `json:"tags"`
	ExternalID *string   `json:"external_id"`
	Requester  *struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	} `json:"requester"`
	Comment *struct {
		Body   string `json:"body"`
		Public *bool  `json:"public"`
	} `json:"comment"`
}

// route handles a request under s.mu.
func (s *Server) route(r *http.Request, body map[string]json.RawMessage) (int, any) {
	path := strings.TrimSuffix(r.URL.Path, ".json")
	switch {
	case path == "/api/v2/tickets" && r.Method == http.MethodGet:
		var out []Ticket
		for _, t := range s.tickets {
			if t.ExternalID == r.URL.Query().Get("external_id") {
				out = append(out, *t)
			}
		}
		return http.StatusOK, map[string]any{"tickets": out, "next_page": nil, "count": len(out)}
	case path == "/api/v2/tickets" && r.Method == http.MethodPost:
		if key := r.Header.Get("Idempotency-Key"); key != "" && !s.ForgetIdempotency {
			if id, ok := s.idem[key]; ok {
				return http.StatusCreated, map[string]any{"ticket": *s.ticket(id)}
			}
		}
		var in ticketInput
		if err := json.Unmarshal(body["ticket"], &in); err != nil {
			return http.StatusBadRequest, map[string]any{"error": "InvalidJSON", "description": err.Error()}
		}
		if in.Comment == nil || strings.TrimSpace(in.Comment.Body) == "" {
			return invalid("description", "Description: cannot be blank")
		}
		t := &Ticket{ID: s.nextID, Status: "new"}
		s.nextID++
		if code, ans := s.apply(t, &in); code != 0 {
			return code, ans
		}
		if in.ExternalID != nil {
			t.ExternalID = *in.ExternalID
		}
		if in.Requester != nil {
			t.Requester = in.Requester.Email
		}
		s.tickets = append(s.tickets, t)
		if key := r.Header.Get("Idempotency-Key"); key != "" {
			s.idem[key] = t.ID
		}
		return http.StatusCreated, map[string]any{"ticket": *t}
	case strings.HasPrefix(path, "/api/v2/tickets/") && strings.HasSuffix(path, "/comments") && r.Method == http.MethodGet:
		id, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(path, "/api/v2/tickets/"), "/comments"), 10, 64)
		t := s.ticket(id)
		if t == nil {
			return http.StatusNotFound, map[string]any{"error": "RecordNotFound"}
		}
		var cs []map[string]any
		for i, c := range t.Comments {
			cs = append(cs, map[string]any{"id": i + 1, "body": c, "plain_body": c})
		}
		return http.StatusOK, map[string]any{"comments": cs, "next_page": nil}
	case strings.HasPrefix(path, "/api/v2/tickets/") && r.Method == http.MethodPut:
		id, _ := strconv.ParseInt(strings.TrimPrefix(path, "/api/v2/tickets/"), 10, 64)
		t := s.ticket(id)
		if t == nil {
			return http.StatusNotFound, map[string]any{"error": "RecordNotFound"}
		}
		var in ticketInput
		if err := json.Unmarshal(body["ticket"], &in); err != nil {
			return http.StatusBadRequest, map[string]any{"error": "InvalidJSON", "description": err.Error()}
		}
		cp := *t
		if code, ans := s.apply(&cp, &in); code != 0 {
			return code, ans
		}
		*t = cp
		return http.StatusOK, map[string]any{"ticket": *t}
	case path == "/api/v2/users/create_or_update_many" && r.Method == http.MethodPost:
		var users []map[string]any
		if err := json.Unmarshal(body["users"], &users); err != nil || len(users) > 100 {
			return http.StatusBadRequest, map[string]any{"error": "InvalidJSON", "description": "users: want at most 100"}
		}
		var results []map[string]any
		for i, u := range users {
			email, _ := u["email"].(string)
			if why, bad := s.badEmails[email]; bad {
				results = append(results, map[string]any{"index": i, "error": "EmailNotAllowed", "details": why})
				continue
			}
			key := strings.ToLower(email)
			usr, ok := s.users[key]
			action := "update"
			if !ok {
				usr = &User{ID: s.nextID, Email: key, Extra: map[string]any{}}
				s.nextID++
				s.users[key] = usr
				action = "create"
			}
			if name, ok := u["name"].(string); ok {
				usr.Name = name
			}
			for k, v := range u {
				usr.Extra[k] = v
			}
			results = append(results, map[string]any{"index": i, "id": usr.ID, "action": action, "status": map[string]string{"create": "Created", "update": "Updated"}[action], "success": true})
		}
		id := fmt.Sprintf("job%04d", len(s.jobs)+1)
		s.jobs[id] = results
		return http.StatusOK, map[string]any{"job_status": map[string]any{"id": id, "status": "queued", "url": s.URL + "/api/v2/job_statuses/" + id + ".json"}}
	case strings.HasPrefix(path, "/api/v2/job_statuses/") && r.Method == http.MethodGet:
		id := strings.TrimPrefix(path, "/api/v2/job_statuses/")
		results, ok := s.jobs[id]
		if !ok {
			return http.StatusNotFound, map[string]any{"error": "RecordNotFound"}
		}
		s.jobPolls[id]++
		if s.jobPolls[id] < 2 {
			return http.StatusOK, map[string]any{"job_status": map[string]any{"id": id, "status": "working", "progress": 0, "total": len(results)}}
		}
		return http.StatusOK, map[string]any{"job_status": map[string]any{"id": id, "status": "completed", "progress": len(results), "total": len(results), "results": results}}
	}
	return http.StatusNotFound, map[string]any{"error": "InvalidEndpoint"}
}

func (s *Server) ticket(id int64) *Ticket {
	for _, t := range s.tickets {
		if t.ID == id {
			return t
		}
	}
	return nil
}

var enums = map[string][]string{
	"status":   {"new", "open", "pending", "hold", "solved", "closed"},
	"priority": {"urgent", "high", "normal", "low"},
	"type":     {"problem", "incident", "question", "task"},
}

// apply sets in's fields on t; a value Zendesk refuses is a 422.
func (s *Server) apply(t *Ticket, in *ticketInput) (int, any) {
	for name, v := range map[string]*string{"status": in.Status, "priority": in.Priority, "type": in.Type} {
		if v != nil && !slices.Contains(enums[name], *v) {
			return invalid(name, fmt.Sprintf("%s: %q is not valid", name, *v))
		}
	}
	if in.Subject != nil {
		t.Subject = *in.Subject
	}
	if in.Status != nil {
		t.Status = *in.Status
	}
	if in.Priority != nil {
		t.Priority = *in.Priority
	}
	if in.Tags != nil {
		t.Tags = slices.Clone(*in.Tags)
	}
	if in.Comment != nil {
		if strings.TrimSpace(in.Comment.Body) == "" {
			return invalid("comment", "Comment: cannot be blank")
		}
		t.Comments = append(t.Comments, in.Comment.Body)
	}
	return 0, nil
}
