package mailchimp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// MaxConnections is Mailchimp's limit of simultaneous connections per
// account: a request beyond it is answered 429.
const MaxConnections = 10

// ConnConfig is a "mailchimp" connection: key, the API key
// ("0123…abcd-us21": its suffix names the data centre, so the API is
// https://us21.api.mailchimp.com/3.0), max_connections (default and at
// most 10), base_url (set it for a test server; the key goes to that
// origin only) and the HTTP bounds of docs/http.md.
type ConnConfig struct {
	// Key is the API key: a secret, give it as "${MAILCHIMP_KEY}".
	Key string `yaml:"key" doc:"the API key, ending in its data centre (-us21)" secret:"true"`
	// MaxConnections bounds the requests in flight at once, shared by
	// every target of the connection.
	MaxConnections   int `yaml:"max_connections" doc:"bounds the requests in flight at once, shared by every target of the connection"`
	httpapi.Settings `yaml:",inline"`
}

// DefaultConnConfig is a connection config with its defaults.
func DefaultConnConfig() *ConnConfig { return &ConnConfig{MaxConnections: MaxConnections} }

func init() {
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{
			Type:    "mailchimp",
			Summary: "a Mailchimp account: API key with its data-centre suffix; at most 10 connections at once",
			Example: "connections:\n  mailchimp:\n    type: mailchimp\n    key: \"${MAILCHIMP_KEY}\"\n",
			Config:  func() any { return DefaultConnConfig() },
		},
		Validate: ValidateConnection,
	})
}

var dataCenterRE = regexp.MustCompile(`-([a-z]{2,4}[0-9]{1,3})$`)

// ValidateConnection checks a decoded *ConnConfig and fills in base_url
// from the key's data centre and the basic credentials; it does no I/O.
func ValidateConnection(cfg any, _ string) error {
	c, ok := cfg.(*ConnConfig)
	if !ok {
		return fmt.Errorf("mailchimp connection: config is %T, want *ConnConfig", cfg)
	}
	if c.IsSet() && (c.Basic == nil || c.Basic.Password != c.Key) {
		return &etl.FieldError{Path: []string{"key"}, Err: errors.New("the API key goes in key, which Mailchimp takes alone: leave token, basic, api_key and oauth2 out")}
	}
	if c.Key == "" {
		return &etl.FieldError{Path: []string{"key"}, Err: errors.New(`required: the API key ("${MAILCHIMP_KEY}")`)}
	}
	if c.BaseURL == "" {
		m := dataCenterRE.FindStringSubmatch(c.Key)
		if m == nil {
			// Never print the key: say only what its end should look like.
			return &etl.FieldError{Path: []string{"key"}, Err: errors.New("the API key does not end in its data centre (-us21): copy the whole key, or set base_url")}
		}
		c.BaseURL = "https://" + m[1] + ".api.mailchimp.com/3.0"
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = MaxConnections
	}
	if c.MaxConnections < 1 || c.MaxConnections > MaxConnections {
		return &etl.FieldError{Path: []string{"max_connections"}, Err: fmt.Errorf("%d: Mailchimp allows 1 to %d connections at once", c.MaxConnections, MaxConnections)}
	}
	// Mailchimp takes any user name with the key as password.
	c.Basic = &httpapi.BasicConfig{Username: "nightjar", Password: c.Key}
	return c.Settings.Validate(true)
}

// shared is what every target of one connection shares, so that they
// stay within the account's limit together: the slots of the requests in
// flight, and one HTTP client whose transport opens at most that many
// connections and keeps them all for reuse (so finishing requests never
// make the count of open connections pass the limit while new ones are
// dialled).
type shared struct {
	slots  chan struct{}
	client *http.Client
}

var connections sync.Map // connection key → *shared

func connectionShared(key any, n int) *shared {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost, t.MaxIdleConnsPerHost = n, n
	s := &shared{slots: make(chan struct{}, n), client: &http.Client{Transport: t}}
	if key == nil {
		return s
	}
	got, _ := connections.LoadOrStore(key, s)
	return got.(*shared)
}

// problem is Mailchimp's error document (RFC 7807 with its errors list).
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// errorMessage is Mailchimp's title and detail (and each field's error)
// from an error body, free of secrets.
func errorMessage(body string, red *httpapi.Redactor) string {
	var p problem
	if json.Unmarshal([]byte(body), &p) != nil || (p.Title == "" && p.Detail == "") {
		return red.Snippet(body, 300)
	}
	msg := p.Title
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	var fields []string
	for _, e := range p.Errors {
		fields = append(fields, e.Field+": "+e.Message)
	}
	if len(fields) > 0 {
		msg += " (" + strings.Join(fields, "; ") + ")"
	}
	return red.Snippet(msg, 400)
}
