package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// RateLimitConfig is the `rate_limit` key: requests per period, e.g.
// HubSpot's 100 per 10 s on Free and Starter, 190 on Professional and
// Enterprise.
type RateLimitConfig struct {
	Requests int           `yaml:"requests" doc:"requests allowed per period"`
	Per      time.Duration `yaml:"per" doc:"the period"`
	// Burst is how many requests may go at once after a quiet spell;
	// default 1, so requests are evenly spaced and an API that counts per
	// second never sees a burst.
	Burst int `yaml:"burst" doc:"how many requests may go at once after a quiet spell; default 1, so requests are evenly spaced and an API that counts per second never sees a burst"`
}

// Settings are the HTTP keys shared by every API connection (inline them):
// base URL, auth, rate limit, timeout, retry budget and bounds. See
// docs/http.md for each key's default.
type Settings struct {
	BaseURL    string `yaml:"base_url" doc:"the API's origin; the credentials go to this origin only"`
	AuthConfig `yaml:",inline"`
	RateLimit  RateLimitConfig `yaml:"rate_limit" doc:"requests per period, shared by every request of the connection"`
	// Timeout bounds one attempt (connect, headers and body); default 60 s.
	Timeout time.Duration `yaml:"timeout" doc:"bounds one attempt (connect, headers and body); default 60 s"`
	// MaxRetries bounds the retries of one request; default 6, -1 none.
	MaxRetries int `yaml:"max_retries" doc:"bounds the retries of one request; default 6, -1 none"`
	// MaxWait bounds every wait of one request; default 5 minutes.
	MaxWait time.Duration `yaml:"max_wait" doc:"bounds every wait of one request; default 5 minutes"`
	// MaxBody bounds a response body in bytes; default 64 MiB.
	MaxBody int64 `yaml:"max_body" doc:"bounds a response body in bytes; default 64 MiB"`
	// CrossOrigin is refuse (default) or strip: what a next link or a
	// redirect to another scheme, host or port does with the
	// credentials (auth and headers).
	CrossOrigin string `yaml:"cross_origin" doc:"refuse (default) or strip: what a next link or a redirect to another scheme, host or port does with the credentials (auth and headers)"`
	// Headers are sent with every request to the configured origin only:
	// their values are treated as credentials, never printed.
	Headers map[string]string `yaml:"headers" doc:"sent with every request to the configured origin only: their values are treated as credentials, never printed"`
}

// Validate checks the settings without I/O; requireBase makes base_url
// mandatory.
func (s *Settings) Validate(requireBase bool) error {
	if s.BaseURL == "" {
		if requireBase {
			return &etl.FieldError{Path: []string{"base_url"}, Err: errors.New("required: the API's base URL")}
		}
	} else if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &etl.FieldError{Path: []string{"base_url"}, Err: errors.New("want an absolute http(s) URL")}
	}
	if s.RateLimit.Requests < 0 {
		return &etl.FieldError{Path: []string{"rate_limit", "requests"}, Err: fmt.Errorf("%d is negative", s.RateLimit.Requests)}
	}
	if s.RateLimit.Requests > 0 && s.RateLimit.Per <= 0 {
		return &etl.FieldError{Path: []string{"rate_limit", "per"}, Err: errors.New("required with requests: the period, e.g. 10s")}
	}
	if s.Timeout < 0 {
		return &etl.FieldError{Path: []string{"timeout"}, Err: errors.New("negative")}
	}
	if s.MaxRetries < -1 {
		return &etl.FieldError{Path: []string{"max_retries"}, Err: errors.New("want -1 (no retries) or more")}
	}
	if s.MaxWait < 0 {
		return &etl.FieldError{Path: []string{"max_wait"}, Err: errors.New("negative")}
	}
	if s.MaxBody < 0 {
		return &etl.FieldError{Path: []string{"max_body"}, Err: errors.New("negative")}
	}
	switch s.CrossOrigin {
	case "", CrossOriginRefuse, CrossOriginStrip:
	default:
		return &etl.FieldError{Path: []string{"cross_origin"}, Err: fmt.Errorf("%q: want %s (the default) or %s", s.CrossOrigin, CrossOriginRefuse, CrossOriginStrip)}
	}
	return s.AuthConfig.Validate()
}

// Secrets lists the secret values: auth and header values.
func (s *Settings) Secrets() []string {
	out := s.AuthConfig.Secrets()
	for _, v := range s.Headers {
		out = append(out, v)
	}
	return out
}

// Options turns the settings into client options, sharing the rate limit
// under limitKey (the connection; nil for a limit of one's own). The caller
// adds the clock, logger, classifier and pacer.
func (s *Settings) Options(limitKey any) Options {
	var limit *Limit
	if s.RateLimit.Requests > 0 {
		if limitKey != nil {
			limit = SharedLimit(limitKey, s.RateLimit.Requests, s.RateLimit.Per, s.RateLimit.Burst)
		} else {
			limit = NewLimit(s.RateLimit.Requests, s.RateLimit.Per, s.RateLimit.Burst)
		}
	}
	var hdr http.Header
	if len(s.Headers) > 0 {
		hdr = make(map[string][]string, len(s.Headers))
		for k, v := range s.Headers {
			hdr[http.CanonicalHeaderKey(k)] = []string{v}
		}
	}
	maxRetries := s.MaxRetries
	return Options{
		BaseURL: s.BaseURL, Auth: s.AuthConfig.Authorizer(nil), Limit: limit,
		Timeout: s.Timeout, MaxRetries: maxRetries, MaxWait: s.MaxWait, MaxBody: s.MaxBody,
		CrossOrigin: s.CrossOrigin, Header: hdr, Secrets: s.Secrets(),
	}
}
