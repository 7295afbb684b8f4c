package config

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// expansion is the result of ${VAR} expansion of one scalar value.
type expansion struct {
	value string
	// substituted is true when a ${...} was replaced: the value may hold a
	// secret and must never be printed; messages show the original text.
	substituted bool
}

// expandProblem is a failed expansion within one scalar.
type expandProblem struct {
	msg, hint string
}

// expandString replaces ${VAR} and ${VAR:-default} with values from lookup
// and $$ with $. A default applies when the variable is unset or empty, as
// in the shell. secrets receives every non-empty value that came from the
// environment. A "$" followed by anything else stays as it is.
func expandString(s string, lookup func(string) (string, bool)) (out string, substituted bool, secrets []string, problems []expandProblem) {
	if !strings.Contains(s, "$") {
		return s, false, nil, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			problems = append(problems, expandProblem{
				msg:  "unterminated ${ in value",
				hint: "close it with }, or write $$ for a literal $",
			})
			b.WriteString(s[i:])
			break
		}
		inner := s[i+2 : i+2+end]
		i += 2 + end + 1
		substituted = true
		name, def, hasDefault := strings.Cut(inner, ":-")
		if !validVarName(name) {
			problems = append(problems, expandProblem{
				msg:  fmt.Sprintf("invalid environment variable name %q in ${%s}", name, inner),
				hint: "names are letters, digits and _, not starting with a digit",
			})
			continue
		}
		val, set := lookup(name)
		switch {
		case val != "":
			secrets = append(secrets, val)
			b.WriteString(val)
		case hasDefault:
			b.WriteString(def)
		case !set:
			problems = append(problems, expandProblem{
				msg:  fmt.Sprintf("environment variable %s is not set", name),
				hint: fmt.Sprintf("export it, or give a default: ${%s:-value}", name),
			})
		}
	}
	return b.String(), substituted, secrets, problems
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// expandTree expands every scalar value (never a mapping key) below n,
// recording the results in d.expanded, the secrets in d.secrets and the
// problems as errors at the scalar's position.
func (d *decoder) expandTree(n ast.Node, lookup func(string) (string, bool)) {
	switch t := n.(type) {
	case nil:
	case *ast.DocumentNode:
		d.expandTree(t.Body, lookup)
	case *ast.MappingNode:
		for _, mv := range t.Values {
			d.expandTree(mv.Value, lookup)
		}
	case *ast.MappingValueNode:
		d.expandTree(t.Value, lookup)
	case *ast.SequenceNode:
		for _, v := range t.Values {
			d.expandTree(v, lookup)
		}
	case *ast.AnchorNode:
		d.expandTree(t.Value, lookup)
	case *ast.TagNode:
		d.expandTree(t.Value, lookup)
	case *ast.LiteralNode:
		if t.Value != nil {
			d.expandScalar(t.Value, t.GetToken(), lookup)
		}
	case *ast.StringNode:
		d.expandScalar(t, t.GetToken(), lookup)
	}
}

func (d *decoder) expandScalar(s *ast.StringNode, at *token.Token, lookup func(string) (string, bool)) {
	out, substituted, secrets, problems := expandString(s.Value, lookup)
	d.secrets = append(d.secrets, secrets...)
	for _, p := range problems {
		d.errAt(at, p.hint, "%s", p.msg)
	}
	if out != s.Value || substituted {
		d.expanded[s] = expansion{value: out, substituted: substituted}
	}
}
