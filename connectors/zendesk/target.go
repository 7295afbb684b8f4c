package zendesk

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// TargetConfig is a "helpdesk" target on a zendesk connection.
type TargetConfig struct {
	// Object is tickets or users.
	Object string `yaml:"object,required" doc:"tickets or users"`
	// Key (tickets) is the field identifying a ticket: a handed-off
	// conversation's id. It is the ticket's external_id.
	Key string `yaml:"key" doc:"(tickets) the field identifying a ticket: a handed-off conversation's id"`
	// Comment (tickets) makes each row a message added once as a comment.
	Comment *CommentConfig `yaml:"comment" doc:"(tickets) makes each row a message added once as a comment"`
	// Requester (tickets) names the fields of the requester's email and
	// name, used when the ticket is made.
	Requester *RequesterConfig `yaml:"requester" doc:"(tickets) the fields of the requester's email and name, used when the ticket is made"`
	// Map maps Zendesk fields to batch fields: for tickets subject,
	// status, priority, type and tags (the ticket's fields, from the last
	// row of its key); for users any user field (email, name,
	// external_id, phone, role, ...).
	Map map[string]string `yaml:"map" doc:"maps Zendesk fields to batch fields: for tickets subject, status, priority, type and tags (the ticket's fields, from the last row of its key); for users any user field (email, name, external_id, phone, role, ...)"`
	// BatchSize (users) is the users per create_or_update_many call, at
	// most 100.
	BatchSize int `yaml:"batch_size" doc:"(users) the users per create_or_update_many call, at most 100"`
	// PollInterval (users) is the wait between polls of a job; default 1s.
	PollInterval time.Duration `yaml:"poll_interval" doc:"(users) the wait between polls of a job; default 1s"`
	// JobTimeout (users) bounds the wait for one job; default 10m.
	JobTimeout time.Duration `yaml:"job_timeout" doc:"(users) bounds the wait for one job; default 10m"`
}

// CommentConfig is the `comment` key of a tickets target.
type CommentConfig struct {
	// Key is the field identifying a message within its conversation: a
	// message is added as a comment once.
	Key string `yaml:"key,required" doc:"the field identifying a message within its conversation: a message is added as a comment once"`
	// Body is the field of the message's text; a row whose body is null
	// or blank adds no comment.
	Body string `yaml:"body,required" doc:"the field of the message's text; a row whose body is null or blank adds no comment"`
	// Public makes comments public replies (emailed to the requester);
	// default false: internal notes.
	Public bool `yaml:"public" doc:"makes comments public replies (emailed to the requester); default false: internal notes"`
}

// RequesterConfig is the `requester` key of a tickets target.
type RequesterConfig struct {
	Email string `yaml:"email,required" doc:"the field holding the requester's email"`
	Name  string `yaml:"name" doc:"the field holding the requester's name"`
}

// MaxUsersPerCall is the most users create_or_update_many takes.
const MaxUsersPerCall = 100

func init() {
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "helpdesk/zendesk",
			Summary: "Zendesk tickets, one per key, with each message added once as a comment; or users upserted in bulk",
			Example: "targets:\n  - type: helpdesk\n    connection: zendesk\n    object: tickets\n    key: conversation_id\n" +
				"    comment: { key: message_id, body: text }\n    requester: { email: email, name: name }\n" +
				"    map: { subject: subject, status: status, priority: priority, tags: tags }\n",
			Config: func() any { return &TargetConfig{} },
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Target, error) { return New(*cfg.(*TargetConfig), env) },
	})
}

// ticketFields are the fields a tickets target maps.
var ticketFields = []string{"priority", "status", "subject", "tags", "type"}

// allowed values of the enumerated ticket fields, as Zendesk documents
// them: a row with another value is quarantined, not sent.
var ticketEnums = map[string][]string{
	"status":   {"new", "open", "pending", "hold", "solved", "closed"},
	"priority": {"urgent", "high", "normal", "low"},
	"type":     {"problem", "incident", "question", "task"},
}

// New validates cfg against the connection; it does no I/O.
func New(cfg TargetConfig, env etl.BuildEnv) (etl.Target, error) {
	if env.Connection == nil {
		return nil, errors.New("helpdesk target needs a zendesk connection")
	}
	conn, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("connection %s is not a zendesk connection", env.Connection.Name)
	}
	for f, field := range cfg.Map {
		if f == "" || field == "" {
			return nil, &etl.FieldError{Path: []string{"map", f}, Err: errors.New("empty field name")}
		}
	}
	switch cfg.Object {
	case "tickets":
		return newTickets(cfg, conn, env.Connection)
	case "users":
		return newUsers(cfg, conn, env.Connection)
	}
	return nil, &etl.FieldError{Path: []string{"object"}, Err: fmt.Errorf("%q: want tickets or users", cfg.Object)}
}

// base is what both targets share: the connection, the client and the
// bookkeeping.
type base struct {
	conn    *ConnConfig
	connKey any
	httpapi.Delivery
	// HTTPClient, if set before Open, replaces the default HTTP client.
	HTTPClient *http.Client
}

func (b *base) open(env etl.TargetEnv) error {
	opts := b.conn.Options(b.connKey)
	opts.Pacer = pacer
	opts.HTTPClient = b.HTTPClient
	if opts.HTTPClient != nil && b.conn.OAuth2 != nil {
		opts.Auth = b.conn.AuthConfig.Authorizer(opts.HTTPClient)
	}
	if err := b.Start(opts, env); err != nil {
		return fmt.Errorf("zendesk: %w", err)
	}
	return nil
}

// SetHTTPClient replaces the default HTTP client; call it before Open.
func (b *base) SetHTTPClient(hc *http.Client) { b.HTTPClient = hc }

// refused reports whether err is Zendesk refusing the record itself (422
// RecordInvalid, 400), which a retry does not mend: the row is quarantined
// with the message instead of failing the run.
func refused(err error) (*httpapi.StatusError, bool) {
	var se *httpapi.StatusError
	if errors.As(err, &se) && !errors.Is(err, httpapi.ErrRetriesExhausted) &&
		(se.Status == http.StatusUnprocessableEntity || se.Status == http.StatusBadRequest) {
		return se, true
	}
	return nil, false
}

func checkMap(m map[string]string, allowed []string) error {
	for f := range m {
		if sort.SearchStrings(allowed, f) == len(allowed) || allowed[sort.SearchStrings(allowed, f)] != f {
			return &etl.FieldError{Path: []string{"map", f}, Err: fmt.Errorf("not a ticket field: map %s", strings.Join(allowed, ", "))}
		}
	}
	return nil
}
