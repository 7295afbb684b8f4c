// Package authtest holds test authorization servers for the HTTP
// connectors' OAuth2 grants, for the connectors' tests and the CLI's
// (which cannot import connectors/internal). It imports no nightjar
// package.
package authtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// JWTGrantType is the grant_type of RFC 7523's JWT bearer grant.
const JWTGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// JWTServer is an OAuth2 authorization server for the JWT bearer grant at
// /token: it verifies the assertion's RS256 signature with Key's public
// half and its claims (iss, sub, aud = its /token URL, exp in the future),
// then issues a random access token valid for ExpiresIn seconds. Valid
// tells an API server whether a bearer token is one it issued and still
// unexpired.
type JWTServer struct {
	*httptest.Server
	// Key is the private key clients must sign with (PEM gives it as
	// text); Issuer and Subject are the claims it wants.
	Key             *rsa.PrivateKey
	Issuer, Subject string
	ExpiresIn       int

	mu     sync.Mutex
	tokens map[string]time.Time
	issued int
	// Refused lists why assertions were refused.
	refused []string
}

// NewJWTServer starts a server with a fresh 2048-bit key; it is closed
// when the test ends.
func NewJWTServer(t testing.TB, issuer, subject string, expiresIn int) *JWTServer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &JWTServer{Key: key, Issuer: issuer, Subject: subject, ExpiresIn: expiresIn, tokens: map[string]time.Time{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// TokenURL is the server's token endpoint.
func (s *JWTServer) TokenURL() string { return s.URL + "/token" }

// PEM is Key as PKCS #8 PEM text.
func (s *JWTServer) PEM() string { return PEMKey(s.Key) }

// PEMKey encodes key as PKCS #8 PEM text.
func PEMKey(key *rsa.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// Issued is how many tokens the server issued.
func (s *JWTServer) Issued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// Refused lists why assertions were refused, in order.
func (s *JWTServer) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

// Valid reports whether an Authorization header carries a token the server
// issued that has not expired.
func (s *JWTServer) Valid(authorization string) bool {
	tok, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	return ok && time.Now().Before(exp)
}

func (s *JWTServer) serve(w http.ResponseWriter, r *http.Request) {
	refuse := func(why string) {
		s.mu.Lock()
		s.refused = append(s.refused, why)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": why})
	}
	if r.URL.Path != "/token" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		refuse("bad form")
		return
	}
	if g := r.PostForm.Get("grant_type"); g != JWTGrantType {
		refuse("grant_type " + g)
		return
	}
	assertion := r.PostForm.Get("assertion")
	claims, err := verifyRS256(assertion, &s.Key.PublicKey)
	if err != nil {
		refuse(err.Error())
		return
	}
	switch {
	case claims.Iss != s.Issuer:
		refuse("iss " + claims.Iss)
		return
	case claims.Sub != s.Subject:
		refuse("sub " + claims.Sub)
		return
	case claims.Aud != s.TokenURL():
		refuse("aud " + claims.Aud)
		return
	case claims.Exp <= time.Now().Unix():
		refuse(fmt.Sprintf("expired assertion (exp %d)", claims.Exp))
		return
	}
	var b [16]byte
	rand.Read(b[:])
	tok := "at-" + hex.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(time.Duration(s.ExpiresIn) * time.Second)
	s.issued++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": s.ExpiresIn})
}

// jwtClaims are the claims of an assertion the server checks.
type jwtClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
}

// verifyRS256 checks a compact JWS's header (alg RS256) and its RS256
// signature with pub, and returns its claims (RFC 7515, RFC 7518 3.3).
func verifyRS256(token string, pub *rsa.PublicKey) (jwtClaims, error) {
	var claims jwtClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims, fmt.Errorf("signature: %d parts, want 3", len(parts))
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return claims, fmt.Errorf("header: %w", err)
	}
	if header.Alg != "RS256" {
		return claims, fmt.Errorf("signature: alg %q, want RS256", header.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return claims, fmt.Errorf("signature: %w", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return claims, fmt.Errorf("signature: %w", err)
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return claims, fmt.Errorf("claims: %w", err)
	}
	return claims, nil
}

// decodeSegment decodes a JWS segment: base64url without padding, then
// JSON.
func decodeSegment(seg string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
