package hubspot

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// DefaultBaseURL is HubSpot's API.
const DefaultBaseURL = "https://api.hubapi.com"

// ConnConfig is a "hubspot" connection: base_url (default
// https://api.hubapi.com; set it for a proxy, a regional endpoint or a test
// server: the token is sent to that origin only), token (a private-app
// token) or oauth2 (a refresh token), rate_limit (default 100 requests per
// 10 s, the Free and Starter burst limit: raise it to 190 for Professional
// and Enterprise), timeout, max_retries, max_wait, max_body, cross_origin
// (see docs/http.md for their defaults).
type ConnConfig struct {
	httpapi.Settings `yaml:",inline"`
}

// DefaultConnConfig is a connection config with its defaults.
func DefaultConnConfig() *ConnConfig {
	return &ConnConfig{Settings: httpapi.Settings{
		BaseURL:   DefaultBaseURL,
		RateLimit: httpapi.RateLimitConfig{Requests: 100, Per: 10 * time.Second},
	}}
}

func init() {
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{
			Type:    "hubspot",
			Summary: "a HubSpot account (CRM v3 API): private-app token or OAuth2, rate limit per tier",
			Example: "connections:\n  hubspot:\n    type: hubspot\n    token: \"${HUBSPOT_TOKEN}\"\n    rate_limit: { requests: 190, per: 10s }\n" +
				"    # base_url: https://api.hubapi.com   (the default; the token goes to this origin only)\n    # max_wait: 5m   (the longest any request waits: Retry-After, rate-limit windows)\n",
			Config: func() any { return DefaultConnConfig() },
		},
		Validate: ValidateConnection,
	})
}

// ValidateConnection checks a decoded *ConnConfig; it does no I/O.
func ValidateConnection(cfg any, _ string) error {
	c, ok := cfg.(*ConnConfig)
	if !ok {
		return fmt.Errorf("hubspot connection: config is %T, want *ConnConfig", cfg)
	}
	if err := c.Settings.Validate(true); err != nil {
		return err
	}
	if !c.IsSet() {
		return &etl.FieldError{Path: []string{"token"}, Err: errors.New(`required: a private-app token ("${HUBSPOT_TOKEN}") or oauth2`)}
	}
	if c.Basic != nil || c.APIKey != nil {
		return &etl.FieldError{Path: []string{"token"}, Err: errors.New("HubSpot takes a private-app token or oauth2")}
	}
	return nil
}

// classify treats a 429 of the daily policy as the end of the run: its
// counter resets at midnight, so retrying would only add errors.
func classify(status int, h http.Header, body []byte) (httpapi.Verdict, error) {
	if status == http.StatusTooManyRequests {
		var e struct {
			PolicyName string `json:"policyName"`
		}
		if json.Unmarshal(body, &e) == nil && e.PolicyName == "DAILY" {
			return httpapi.Fail, fmt.Errorf("%w (HubSpot's daily counter resets at midnight in the account's time zone)", httpapi.ErrDailyLimit)
		}
	}
	return httpapi.DefaultClassify(status, h, body)
}

// pacer reads HubSpot's X-HubSpot-RateLimit-* headers.
func pacer(h http.Header) (httpapi.Pace, bool) {
	maxReq, err1 := strconv.Atoi(h.Get("X-HubSpot-RateLimit-Max"))
	remaining, err2 := strconv.Atoi(h.Get("X-HubSpot-RateLimit-Remaining"))
	ms, err3 := strconv.Atoi(h.Get("X-HubSpot-RateLimit-Interval-Milliseconds"))
	if err1 != nil || err2 != nil || err3 != nil {
		return httpapi.Pace{}, false
	}
	return httpapi.Pace{Max: maxReq, Remaining: remaining, Window: time.Duration(ms) * time.Millisecond}, true
}
