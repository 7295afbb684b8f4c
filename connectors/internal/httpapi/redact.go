package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// minSecret is the shortest value a Redactor hides: shorter ones would
// blank ordinary words.
const minSecret = 4

// Redactor replaces secret values, and every form a server may echo them
// in, by "[redacted]": as they are, URL-encoded (query and path), escaped
// in a JSON string, and base64-encoded (standard and URL alphabets, padded
// or not). Basic credentials are hidden by their base64 "user:password"
// too (see AuthConfig.Secrets).
type Redactor struct {
	r      *strings.Replacer
	values []string // longest first
}

// NewRedactor hides the given secrets; empty and very short ones are
// ignored.
func NewRedactor(secrets ...string) *Redactor {
	var values []string
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < minSecret {
			continue
		}
		for _, v := range forms(s) {
			if len(v) >= minSecret && !seen[v] {
				seen[v] = true
				values = append(values, v)
			}
		}
	}
	// Longest first, so a secret containing another is hidden whole.
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	pairs := make([]string, 0, 2*len(values))
	for _, v := range values {
		pairs = append(pairs, v, "[redacted]")
	}
	return &Redactor{r: strings.NewReplacer(pairs...), values: values}
}

// forms lists the ways s may appear in a response or an error.
func forms(s string) []string {
	js, _ := json.Marshal(s)
	b := []byte(s)
	return []string{
		s, url.QueryEscape(s), url.PathEscape(s), string(js[1 : len(js)-1]),
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
	}
}

// Redact returns s with every secret replaced.
func (r *Redactor) Redact(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Snippet returns the start of s, at most n bytes, for an error message:
// secrets are replaced before the cut, so one straddling it is never
// printed in part, and a trailing start of a secret (s itself cut short,
// at a body cap say) is dropped.
func (r *Redactor) Snippet(s string, n int) string {
	s = r.trimPartial(r.Redact(strings.TrimSpace(s)))
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// trimPartial drops an end of s that is the start of a secret (of at least
// minSecret bytes).
func (r *Redactor) trimPartial(s string) string {
	if r == nil {
		return s
	}
	for _, v := range r.values {
		for k := min(len(v)-1, len(s)); k >= minSecret; k-- {
			if strings.HasSuffix(s, v[:k]) {
				return s[:len(s)-k] + "[redacted]"
			}
		}
	}
	return s
}
