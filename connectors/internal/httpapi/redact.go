package httpapi

import (
	"net/url"
	"sort"
	"strings"
)

// minSecret is the shortest value a Redactor hides: shorter ones would
// blank ordinary words.
const minSecret = 4

// Redactor replaces secret values (and their URL-encoded forms) by
// "[redacted]".
type Redactor struct {
	r *strings.Replacer
}

// NewRedactor hides the given secrets; empty and very short ones are
// ignored.
func NewRedactor(secrets ...string) *Redactor {
	var values []string
	seen := map[string]bool{}
	for _, s := range secrets {
		for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
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
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// Redact returns s with every secret replaced.
func (r *Redactor) Redact(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}
