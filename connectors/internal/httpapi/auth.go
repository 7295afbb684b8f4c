package httpapi

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"

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
	Username string `yaml:"username,required" doc:"the user name"`
	Password string `yaml:"password" doc:"the password" secret:"true"`
}

// APIKeyConfig is the `api_key` auth key: a key sent in a header.
type APIKeyConfig struct {
	Header string `yaml:"header" doc:"the header carrying the key"`
	Value  string `yaml:"value,required" doc:"the key" secret:"true"`
}

// OAuth2Config is the `oauth2` auth key: the JWT bearer grant when jwt is
// set, a refresh token grant when refresh_token is, else the
// client-credentials grant.
type OAuth2Config struct {
	TokenURL     string   `yaml:"token_url,required" doc:"the OAuth2 token endpoint"`
	ClientID     string   `yaml:"client_id,required" doc:"the client (connected app) id; the JWT's issuer"`
	ClientSecret string   `yaml:"client_secret" doc:"the client secret" secret:"true"`
	RefreshToken string   `yaml:"refresh_token" doc:"a refresh token: the refresh-token grant instead of client credentials" secret:"true"`
	Scopes       []string `yaml:"scopes" doc:"the scopes asked for"`
	// JWT is the JWT bearer grant (RFC 7523): an assertion signed with a
	// private key is exchanged for an access token, and again when that
	// expires. Salesforce's server-to-server flow.
	JWT *JWTConfig `yaml:"jwt" doc:"the JWT bearer grant (RFC 7523), Salesforce's server-to-server flow"`
}

// JWTConfig is the `oauth2.jwt` key: the assertion's claims and key. The
// issuer is client_id (Salesforce: the connected app's consumer key).
type JWTConfig struct {
	// Subject is the user the token acts for (sub; Salesforce: the
	// username).
	Subject string `yaml:"subject" doc:"the user the token acts for (sub; Salesforce: the username)"`
	// PrivateKey is the RSA private key signing the assertion (RS256), as
	// PEM (PKCS #1 or #8): a secret, give it as "${VAR}". Line breaks
	// written as \n (an environment variable on one line) are accepted.
	PrivateKey string `yaml:"private_key,required" doc:"the RSA private key signing the assertion (RS256), as PEM (PKCS #1 or #8)" secret:"true"`
	// KeyID is sent as the assertion's kid header, when set.
	KeyID string `yaml:"key_id" doc:"sent as the assertion's kid header, when set"`
	// Audience is the assertion's aud; default token_url (Salesforce wants
	// https://login.salesforce.com or https://test.salesforce.com).
	Audience string `yaml:"audience" doc:"the assertion's aud; default token_url (Salesforce wants https://login.salesforce.com or https://test.salesforce.com)"`
	// Expires is the assertion's lifetime; default 1 h (Salesforce allows
	// at most 3 minutes: set 3m).
	Expires time.Duration `yaml:"expires" doc:"the assertion's lifetime; default 1 h (Salesforce allows at most 3 minutes: set 3m)"`
}

// pemKey is the key as PEM, with escaped line breaks made real: a key
// kept on one line of an environment file has "\n" where they belong.
func (j *JWTConfig) pemKey() []byte {
	k := strings.TrimSpace(j.PrivateKey)
	if !strings.Contains(k, "\n") && strings.Contains(k, `\n`) {
		k = strings.ReplaceAll(k, `\n`, "\n")
	}
	return []byte(k)
}

// checkPrivateKey reports what is wrong with a PEM private key for RS256,
// without quoting it.
func checkPrivateKey(key []byte) error {
	block, _ := pem.Decode(key)
	if block == nil {
		return errors.New("not a PEM private key (want -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)")
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("the PEM block (%s) is not a PKCS #1 or PKCS #8 private key", block.Type)
	}
	if _, ok := k.(*rsa.PrivateKey); !ok {
		return fmt.Errorf("a %T: the JWT bearer grant signs with RS256, which needs an RSA key", k)
	}
	return nil
}

// pemLines are the base64 lines of a PEM key: a server echoing part of a
// key quotes lines of it.
func pemLines(key []byte) []string {
	var out []string
	for _, l := range strings.Split(string(key), "\n") {
		if l = strings.TrimSpace(l); len(l) >= 16 && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

// AuthConfig is inlined in connection and component configs: at most one
// of token, basic, api_key and oauth2.
type AuthConfig struct {
	// Token is a bearer token (a HubSpot private-app token, an API token).
	Token  string        `yaml:"token" doc:"a bearer token (a HubSpot private-app token, an API token)" secret:"true"`
	Basic  *BasicConfig  `yaml:"basic" doc:"HTTP basic auth"`
	APIKey *APIKeyConfig `yaml:"api_key" doc:"a key sent in a header"`
	OAuth2 *OAuth2Config `yaml:"oauth2" doc:"OAuth2: client credentials, a refresh token or a JWT bearer grant"`
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
		if j := a.OAuth2.JWT; j != nil {
			if a.OAuth2.RefreshToken != "" {
				return &etl.FieldError{Path: []string{"oauth2", "jwt"}, Err: errors.New("set jwt or refresh_token, not both")}
			}
			if j.Expires < 0 {
				return &etl.FieldError{Path: []string{"oauth2", "jwt", "expires"}, Err: errors.New("negative")}
			}
			if err := checkPrivateKey(j.pemKey()); err != nil {
				// The key is never quoted: only what is wrong with it.
				return &etl.FieldError{Path: []string{"oauth2", "jwt", "private_key"}, Err: err}
			}
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
		if j := a.OAuth2.JWT; j != nil {
			s = append(s, j.PrivateKey, string(j.pemKey()))
			s = append(s, pemLines(j.pemKey())...)
		}
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
		if j := o.JWT; j != nil {
			cfg := &jwt.Config{Email: o.ClientID, Subject: j.Subject, PrivateKey: j.pemKey(), PrivateKeyID: j.KeyID,
				Scopes: o.Scopes, TokenURL: o.TokenURL, Audience: j.Audience, Expires: j.Expires}
			// The token source reuses a token until it expires, then
			// signs a new assertion for the next one.
			return TokenSourceAuth{cfg.TokenSource(ctx)}
		}
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
