package salesforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// ConnConfig is a "salesforce" connection: instance_url, api_version,
// token (an access token) or oauth2, rate_limit (default 25 requests per
// second), timeout, max_retries, max_wait.
type ConnConfig struct {
	InstanceURL      string `yaml:"instance_url" doc:"the org's URL, https://MYDOMAIN.my.salesforce.com; credentials go to this origin only"`
	APIVersion       string `yaml:"api_version" doc:"the REST API version, e.g. v62.0"`
	httpapi.Settings `yaml:",inline"`
}

// DefaultConnConfig is a connection config with its defaults.
func DefaultConnConfig() *ConnConfig {
	return &ConnConfig{APIVersion: "v62.0", Settings: httpapi.Settings{
		RateLimit: httpapi.RateLimitConfig{Requests: 25, Per: time.Second},
	}}
}

func init() {
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{
			Type:    "salesforce",
			Summary: "a Salesforce org (REST API): instance URL, access token or OAuth2",
			Example: "connections:\n  sfdc:\n    type: salesforce\n    instance_url: https://acme.my.salesforce.com\n    token: \"${SF_TOKEN}\"\n",
			Config:  func() any { return DefaultConnConfig() },
		},
		Validate: ValidateConnection,
	})
}

var apiVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]$`)

// ValidateConnection checks a decoded *ConnConfig; it does no I/O.
func ValidateConnection(cfg any, _ string) error {
	c, ok := cfg.(*ConnConfig)
	if !ok {
		return fmt.Errorf("salesforce connection: config is %T, want *ConnConfig", cfg)
	}
	if c.BaseURL != "" {
		return &etl.FieldError{Path: []string{"base_url"}, Err: errors.New("use instance_url")}
	}
	if c.InstanceURL == "" {
		return &etl.FieldError{Path: []string{"instance_url"}, Err: errors.New("required: the org's URL, e.g. https://acme.my.salesforce.com")}
	}
	s := c.Settings
	s.BaseURL = c.InstanceURL
	if err := s.Validate(true); err != nil {
		var fe *etl.FieldError
		if errors.As(err, &fe) && len(fe.Path) == 1 && fe.Path[0] == "base_url" {
			return &etl.FieldError{Path: []string{"instance_url"}, Err: fe.Err}
		}
		return err
	}
	if !apiVersion.MatchString(c.APIVersion) {
		return &etl.FieldError{Path: []string{"api_version"}, Err: fmt.Errorf("%q: want vNN.N, e.g. v62.0 (sObject Collections upsert needs v46.0 or later)", c.APIVersion)}
	}
	if !c.IsSet() {
		return &etl.FieldError{Path: []string{"token"}, Err: errors.New(`required: an access token ("${SF_TOKEN}") or oauth2`)}
	}
	return nil
}

// options are the connection's client options.
func (c *ConnConfig) options(key any) httpapi.Options {
	s := c.Settings
	s.BaseURL = strings.TrimSuffix(c.InstanceURL, "/")
	o := s.Options(key)
	o.Classify = classify
	return o
}

// apiErrors is Salesforce's error body: a list of codes and messages.
// Per-record errors carry statusCode instead of errorCode.
type apiErrors []struct {
	ErrorCode  string   `json:"errorCode"`
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

// classify treats 403 REQUEST_LIMIT_EXCEEDED as throttling, except the
// daily allocation ("TotalRequests Limit exceeded"), which ends the run.
func classify(status int, h http.Header, body []byte) (httpapi.Verdict, error) {
	if status == http.StatusForbidden {
		var errs apiErrors
		if json.Unmarshal(body, &errs) == nil {
			for _, e := range errs {
				if e.ErrorCode != "REQUEST_LIMIT_EXCEEDED" {
					continue
				}
				if strings.Contains(e.Message, "TotalRequests") {
					return httpapi.Fail, fmt.Errorf("%w (Salesforce's 24-hour API allocation)", httpapi.ErrDailyLimit)
				}
				return httpapi.Throttle, nil
			}
		}
	}
	return httpapi.DefaultClassify(status, h, body)
}
