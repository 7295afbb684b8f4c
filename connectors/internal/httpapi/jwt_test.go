package httpapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/authtest"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// jwtAPI is an API that answers 200 to a bearer token the authorization
// server issued and has not expired, and 401 to anything else.
func jwtAPI(t *testing.T, as *authtest.JWTServer) *httptest.Server {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !as.Valid(r.Header.Get("Authorization")) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(api.Close)
	return api
}

// TestJWTBearerGrantSignsRefreshesAndHidesTheKey: the oauth2.jwt auth gets
// a token from an authorization server that verifies the assertion's
// signature and claims, reuses it while it is valid, signs a new assertion
// once it expires (the server's tokens last 11 s; the client renews 10 s
// early), and never quotes the key.
func TestJWTBearerGrantSignsRefreshesAndHidesTheKey(t *testing.T) {
	t.Parallel()
	as := authtest.NewJWTServer(t, "consumer-key-1", "etl@example.com", 11)
	api := jwtAPI(t, as)
	// One line with escaped line breaks, as an environment file holds it.
	oneLine := strings.ReplaceAll(strings.TrimSpace(as.PEM()), "\n", `\n`)
	s := httpapi.Settings{BaseURL: api.URL, AuthConfig: httpapi.AuthConfig{OAuth2: &httpapi.OAuth2Config{
		TokenURL: as.TokenURL(), ClientID: "consumer-key-1",
		JWT: &httpapi.JWTConfig{Subject: "etl@example.com", PrivateKey: oneLine, Expires: 3 * time.Minute},
	}}}
	if err := s.Validate(true); err != nil {
		t.Fatal(err)
	}
	c, err := httpapi.New(s.Options(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.Do(ctx, httpapi.Request{Path: "/things"}); err != nil {
			t.Fatalf("request %d: %v (refused: %v)", i, err, as.Refused())
		}
	}
	if n := as.Issued(); n != 1 {
		t.Fatalf("%d tokens issued for 3 requests within the token's life, want 1", n)
	}
	time.Sleep(1200 * time.Millisecond) // past the client's view of the expiry
	if _, err := c.Do(ctx, httpapi.Request{Path: "/things"}); err != nil {
		t.Fatalf("after expiry: %v (refused: %v)", err, as.Refused())
	}
	if n := as.Issued(); n != 2 {
		t.Fatalf("%d tokens issued after the first expired, want 2", n)
	}
}

// TestJWTBearerGrantRefusedKeyFailsPermanentlyWithoutQuotingIt: an
// assertion signed with a key the server does not know is refused
// (invalid_grant); the error is permanent and holds no part of the key.
func TestJWTBearerGrantRefusedKeyFailsPermanentlyWithoutQuotingIt(t *testing.T) {
	t.Parallel()
	as := authtest.NewJWTServer(t, "consumer-key-1", "etl@example.com", 3600)
	api := jwtAPI(t, as)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wrong := authtest.PEMKey(other)
	s := httpapi.Settings{BaseURL: api.URL, AuthConfig: httpapi.AuthConfig{OAuth2: &httpapi.OAuth2Config{
		TokenURL: as.TokenURL(), ClientID: "consumer-key-1",
		JWT: &httpapi.JWTConfig{Subject: "etl@example.com", PrivateKey: wrong},
	}}}
	c, err := httpapi.New(s.Options(nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(context.Background(), httpapi.Request{Path: "/things"})
	if err == nil || !etl.IsPermanent(err) {
		t.Fatalf("got %v, want a permanent error", err)
	}
	if len(as.Refused()) != 1 || !strings.HasPrefix(as.Refused()[0], "signature") {
		t.Errorf("refusals %v, want one for the signature", as.Refused())
	}
	assertNoKey(t, err.Error(), wrong)
}

// TestJWTConfigRefusesABadKeyWithoutQuotingIt: validation says what is
// wrong with the key and never prints it.
func TestJWTConfigRefusesABadKeyWithoutQuotingIt(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"s3cr3t-not-a-pem-key", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n"} {
		a := httpapi.AuthConfig{OAuth2: &httpapi.OAuth2Config{TokenURL: "https://login.example.com/token", ClientID: "c",
			JWT: &httpapi.JWTConfig{PrivateKey: key}}}
		err := a.Validate()
		var fe *etl.FieldError
		if !errors.As(err, &fe) || strings.Join(fe.Path, ".") != "oauth2.jwt.private_key" {
			t.Fatalf("got %v, want a field error at oauth2.jwt.private_key", err)
		}
		assertNoKey(t, err.Error(), key)
	}
}

// assertNoKey fails if msg holds the key or any line of it.
func assertNoKey(t *testing.T, msg, key string) {
	t.Helper()
	for _, line := range append([]string{key}, strings.Split(key, "\n")...) {
		line = strings.TrimSpace(line)
		if len(line) >= 8 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line) {
			t.Errorf("the message quotes the key (%q): %s", line, msg)
		}
	}
}
