package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/nightjar-etl/nightjar/etl"
)

// Authorizer sets a request's credentials; it may fetch a token (OAuth2).
type Authorizer interface {
	Authorize(ctx context.Context, req *http.Request) error
}

// BearerToken sends "Authorization: Bearer <token>".
type BearerToken string

// Authorize sets the bearer token.
func (t BearerToken) Authorize(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+string(t))
	return nil
}

// HeaderAuth sends a key in a header of its own ("X-API-Key: <key>").
type HeaderAuth struct{ Name, Value string }

// Authorize sets the header.
func (h HeaderAuth) Authorize(_ context.Context, req *http.Request) error {
	req.Header.Set(h.Name, h.Value)
	return nil
}

// BasicAuth sends HTTP basic credentials.
type BasicAuth struct{ Username, Password string }

// Authorize sets the basic credentials.
func (b BasicAuth) Authorize(_ context.Context, req *http.Request) error {
	req.SetBasicAuth(b.Username, b.Password)
	return nil
}

// TokenSourceAuth sends tokens from an OAuth2 token source, which fetches
// and refreshes them as needed.
type TokenSourceAuth struct{ Source oauth2.TokenSource }

// Authorize sets the current access token.
func (a TokenSourceAuth) Authorize(_ context.Context, req *http.Request) error {
	tok, err := a.Source.Token()
	if err != nil {
		return fmt.Errorf("oauth2 token: %w", err)
	}
	tok.SetAuthHeader(req)
	return nil
}

// BasicConfig is the `basic` auth key.
type BasicConfig struct {
	Username string `yaml:"username,required"`
	Password string `yaml:"password"`
}

// APIKeyConfig is the `api_key` auth key: a key sent in a header.
type APIKeyConfig struct {
	Header string `yaml:"header"`
	Value  string `yaml:"value,required"`
}

// OAuth2Config is the `oauth2` auth key: a refresh token grant when
// refresh_token is set, else the client-credentials grant.
type OAuth2Config struct {
	TokenURL     string   `yaml:"token_url,required"`
	ClientID     string   `yaml:"client_id,required"`
	ClientSecret string   `yaml:"client_secret"`
	RefreshToken string   `yaml:"refresh_token"`
	Scopes       []string `yaml:"scopes"`
}

// AuthConfig is inlined in connection and component configs: at most one
// of token, basic, api_key and oauth2.
type AuthConfig struct {
	// Token is a bearer token (a HubSpot private-app token, an API token).
	Token  string        `yaml:"token"`
	Basic  *BasicConfig  `yaml:"basic"`
	APIKey *APIKeyConfig `yaml:"api_key"`
	OAuth2 *OAuth2Config `yaml:"oauth2"`
}

// IsSet reports whether any auth is configured.
func (a *AuthConfig) IsSet() bool {
	return a.Token != "" || a.Basic != nil || a.APIKey != nil || a.OAuth2 != nil
}

// Validate checks that at most one kind is set; it does no I/O.
func (a *AuthConfig) Validate() error {
	var set []string
	if a.Token != "" {
		set = append(set, "token")
	}
	if a.Basic != nil {
		set = append(set, "basic")
	}
	if a.APIKey != nil {
		set = append(set, "api_key")
		if a.APIKey.Header == "" {
			a.APIKey.Header = "X-API-Key"
		}
	}
	if a.OAuth2 != nil {
		set = append(set, "oauth2")
		if !strings.HasPrefix(a.OAuth2.TokenURL, "https://") && !strings.HasPrefix(a.OAuth2.TokenURL, "http://") {
			return &etl.FieldError{Path: []string{"oauth2", "token_url"}, Err: errors.New("want an http(s) URL")}
		}
	}
	if len(set) > 1 {
		return &etl.FieldError{Path: []string{set[1]}, Err: fmt.Errorf("set only one of %s", strings.Join(set, ", "))}
	}
	return nil
}

// Secrets lists the secret values, for redaction.
func (a *AuthConfig) Secrets() []string {
	s := []string{a.Token}
	if a.Basic != nil {
		// What goes on the wire is base64("user:password"), which a server
		// echoing request headers prints back.
		s = append(s, a.Basic.Password, a.Basic.Username+":"+a.Basic.Password)
	}
	if a.APIKey != nil {
		s = append(s, a.APIKey.Value)
	}
	if a.OAuth2 != nil {
		s = append(s, a.OAuth2.ClientSecret, a.OAuth2.RefreshToken)
	}
	return s
}

// Authorizer builds the configured authorizer (nil when none); it does no
// I/O: OAuth2 tokens are fetched on first use, with hc (nil for the default
// client).
func (a *AuthConfig) Authorizer(hc *http.Client) Authorizer {
	switch {
	case a.Token != "":
		return BearerToken(a.Token)
	case a.Basic != nil:
		return BasicAuth{a.Basic.Username, a.Basic.Password}
	case a.APIKey != nil:
		return HeaderAuth{a.APIKey.Header, a.APIKey.Value}
	case a.OAuth2 != nil:
		ctx := context.Background()
		if hc != nil {
			ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
		}
		o := a.OAuth2
		if o.RefreshToken != "" {
			cfg := &oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes,
				Endpoint: oauth2.Endpoint{TokenURL: o.TokenURL}}
			return TokenSourceAuth{cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: o.RefreshToken})}
		}
		cfg := &clientcredentials.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes, TokenURL: o.TokenURL}
		return TokenSourceAuth{cfg.TokenSource(ctx)}
	}
	return nil
}
