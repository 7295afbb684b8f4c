package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Cross-origin policies (the cross_origin key): what the client does with a
// request (a next link, a redirect) to another origin than the one the
// connection was configured for.
const (
	// CrossOriginRefuse fails the request, naming both origins.
	CrossOriginRefuse = "refuse"
	// CrossOriginStrip sends it without credentials.
	CrossOriginStrip = "strip"
)

// ErrCrossOrigin is returned when a request would carry credentials to an
// origin other than the configured one and cross_origin is refuse.
var ErrCrossOrigin = errors.New("credentials are sent only to the configured origin")

// CrossOriginError is a request (a next link, a redirect) to another origin
// refused under cross_origin: refuse.
type CrossOriginError struct {
	// Origin is the configured origin, To the one the request went to
	// (scheme://host:port).
	Origin, To string
	// Redirect is set when a redirect led there.
	Redirect bool
}

func (e *CrossOriginError) Error() string {
	what := "link"
	if e.Redirect {
		what = "redirect"
	}
	return fmt.Sprintf("%s to %s refused: %v (%s; set cross_origin: strip to follow such links without credentials)",
		what, e.To, ErrCrossOrigin, e.Origin)
}

// Unwrap returns ErrCrossOrigin.
func (e *CrossOriginError) Unwrap() error { return ErrCrossOrigin }

// Origin returns u's origin as scheme://host:port, with the scheme's default
// port made explicit, so that https://a and https://a:443 are one origin and
// http://a:1 and http://a:2 are two.
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host, port := u.Hostname(), u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(host), port)
}

// hop is what CheckRedirect needs to know of the request it follows: where
// credentials may go, which headers carry them, and the policy.
type hop struct {
	origin string
	creds  []string
	strip  bool
}

type hopKey struct{}

// withRedirectCheck returns a shallow copy of hc whose redirects keep
// credentials at their origin: a redirect elsewhere is refused, or followed
// without the credential headers, by the policy carried in the request's
// context. Go itself strips only Authorization, and only when the host
// name changes (not the port).
func withRedirectCheck(hc *http.Client) *http.Client {
	c := *hc
	prev := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if h, ok := req.Context().Value(hopKey{}).(*hop); ok && len(h.creds) > 0 && Origin(req.URL) != h.origin {
			if !h.strip {
				return &CrossOriginError{Origin: h.origin, To: Origin(req.URL), Redirect: true}
			}
			for _, name := range h.creds {
				req.Header.Del(name)
			}
		}
		if prev != nil {
			return prev(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// credentialHeaders are the headers of req that carry credentials: those the
// authorizer set (the difference with before) and the configured ones.
func credentialHeaders(before map[string]bool, req *http.Request, configured http.Header) []string {
	names := []string{"Authorization", "Proxy-Authorization", "Cookie"}
	for k := range req.Header {
		if !before[k] {
			names = append(names, k)
		}
	}
	for k := range configured {
		names = append(names, k)
	}
	return names
}

func withHop(ctx context.Context, h *hop) context.Context { return context.WithValue(ctx, hopKey{}, h) }
