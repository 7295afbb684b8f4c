package zendesk

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// ConnConfig is a "zendesk" connection: subdomain (acme for
// https://acme.zendesk.com), and email with api_token (an agent's API
// token, sent as basic auth "email/token:api_token") or token (an OAuth
// access token) or oauth2; base_url (default https://SUBDOMAIN.zendesk.com:
// set it for a test server, the credentials go to that origin only),
// rate_limit (default 200 requests a minute, the Team plan's limit: raise
// it to 400 or 700 on Professional or Enterprise; the X-Rate-Limit headers
// lower it when they say less) and the HTTP bounds of docs/http.md.
type ConnConfig struct {
	Subdomain string `yaml:"subdomain" doc:"the account's subdomain: SUBDOMAIN.zendesk.com"`
	Email     string `yaml:"email" doc:"the agent's email, for API-token auth (sent as email/token)"`
	// APIToken is the agent's API token: a secret, give it as "${VAR}".
	APIToken         string `yaml:"api_token" doc:"the agent's API token" secret:"true"`
	httpapi.Settings `yaml:",inline"`
}

// DefaultConnConfig is a connection config with its defaults.
func DefaultConnConfig() *ConnConfig {
	return &ConnConfig{Settings: httpapi.Settings{
		RateLimit: httpapi.RateLimitConfig{Requests: 200, Per: time.Minute},
	}}
}

func init() {
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{
			Type:    "zendesk",
			Summary: "a Zendesk Support account: agent email with API token, or OAuth; rate limit per plan",
			Example: "connections:\n  zendesk:\n    type: zendesk\n    subdomain: acme\n    email: etl@acme.example\n    api_token: \"${ZENDESK_TOKEN}\"\n" +
				"    rate_limit: { requests: 400, per: 1m }\n",
			Config: func() any { return DefaultConnConfig() },
		},
		Validate: ValidateConnection,
	})
}

var subdomainRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidateConnection checks a decoded *ConnConfig and fills in base_url
// and the basic credentials of email and api_token; it does no I/O.
func ValidateConnection(cfg any, _ string) error {
	c, ok := cfg.(*ConnConfig)
	if !ok {
		return fmt.Errorf("zendesk connection: config is %T, want *ConnConfig", cfg)
	}
	if c.BaseURL == "" {
		if !subdomainRE.MatchString(c.Subdomain) {
			return &etl.FieldError{Path: []string{"subdomain"}, Err: fmt.Errorf("%q: want the account's subdomain (acme for https://acme.zendesk.com), or base_url", c.Subdomain)}
		}
		c.BaseURL = "https://" + c.Subdomain + ".zendesk.com"
	}
	if c.APIToken != "" || c.Email != "" {
		if c.APIToken == "" || c.Email == "" {
			return &etl.FieldError{Path: []string{"api_token"}, Err: errors.New("email and api_token go together (basic auth email/token)")}
		}
		if c.IsSet() && (c.Basic == nil || c.Basic.Password != c.APIToken) {
			return &etl.FieldError{Path: []string{"api_token"}, Err: errors.New("set email with api_token, or token, or oauth2: only one")}
		}
		c.Basic = &httpapi.BasicConfig{Username: c.Email + "/token", Password: c.APIToken}
	}
	if err := c.Settings.Validate(true); err != nil {
		return err
	}
	if !c.IsSet() {
		return &etl.FieldError{Path: []string{"api_token"}, Err: errors.New(`required: email with api_token ("${ZENDESK_TOKEN}"), or token, or oauth2`)}
	}
	if c.APIKey != nil {
		return &etl.FieldError{Path: []string{"api_key"}, Err: errors.New("a Zendesk connection takes email with api_token, token or oauth2")}
	}
	return nil
}

// pacer reads Zendesk's account-wide X-Rate-Limit and
// X-Rate-Limit-Remaining headers (requests per minute).
func pacer(h http.Header) (httpapi.Pace, bool) {
	maxReq, err1 := strconv.Atoi(h.Get("X-Rate-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-Rate-Limit-Remaining"))
	if err1 != nil || err2 != nil {
		return httpapi.Pace{}, false
	}
	return httpapi.Pace{Max: maxReq, Remaining: remaining, Window: time.Minute}, true
}

// errorMessage extracts Zendesk's message from an error body: error,
// description and the details of each field.
func errorMessage(body string, red *httpapi.Redactor) string {
	var e struct {
		Error       any                         `json:"error"`
		Description string                      `json:"description"`
		Details     map[string][]map[string]any `json:"details"`
	}
	if json.Unmarshal([]byte(body), &e) != nil || e.Error == nil {
		return red.Snippet(body, 300)
	}
	msg := fmt.Sprint(e.Error)
	if m, ok := e.Error.(map[string]any); ok {
		msg = fmt.Sprintf("%v: %v", m["title"], m["message"])
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	for field, ds := range e.Details {
		for _, d := range ds {
			if s, ok := d["description"].(string); ok {
				msg += "; " + field + ": " + s
			}
		}
	}
	return red.Snippet(msg, 300)
}
