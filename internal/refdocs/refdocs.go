package refdocs

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nightjar-etl/nightjar/etl"

	_ "github.com/nightjar-etl/nightjar/connectors/all" // every connector registers itself
	_ "github.com/nightjar-etl/nightjar/transforms"     // and every step
)

// Component is one registered component as the reference shows it.
type Component struct {
	Role string // source, target, connection, step
	etl.Spec
}

// Page is one generated file of the reference.
type Page struct {
	File  string // below docs/reference
	Title string
	Role  string
	Intro string
}

// Pages lists the reference's pages.
var Pages = []Page{
	{File: "sources.md", Title: "Sources", Role: "source",
		Intro: "A job's `source:` reads the rows. `type:` picks the source; a type written `sql/mysql` is `type: sql` with `connection:` naming a connection of that type (see [connections](connections.md))."},
	{File: "targets.md", Title: "Targets", Role: "target",
		Intro: "A job's `targets:` write the rows; every target gets every batch (or, with `name:`, the rows of one route). A type written `table/sqlite` is `type: table` with `connection:` naming a connection of that type (see [connections](connections.md))."},
	{File: "connections.md", Title: "Connections", Role: "connection",
		Intro: "The `connections:` section names databases and accounts once; sources, targets and steps refer to them by name with `connection:`."},
	{File: "steps.md", Title: "Steps", Role: "step",
		Intro: "A job's `steps:` transform the rows in order; each list item is one step, `KIND: options`. [docs/steps.md](../steps.md) explains how they work together."},
}

// Components lists the registered components of a role, sorted by type.
func Components(role string) []Component {
	switch role {
	case "source":
		return collect(role, etl.SourceTypes(), etl.LookupSource, func(s etl.SourceSpec) etl.Spec { return s.Spec })
	case "target":
		return collect(role, etl.TargetTypes(), etl.LookupTarget, func(s etl.TargetSpec) etl.Spec { return s.Spec })
	case "connection":
		return collect(role, etl.ConnectionTypes(), etl.LookupConnection, func(s etl.ConnectionSpec) etl.Spec { return s.Spec })
	case "step":
		return collect(role, etl.StepKinds(), etl.LookupStep, func(s etl.StepSpec) etl.Spec { return s.Spec })
	}
	return nil
}

func collect[S any](role string, types []string, lookup func(string) (S, bool), spec func(S) etl.Spec) []Component {
	out := make([]Component, 0, len(types))
	for _, t := range types {
		s, _ := lookup(t)
		out = append(out, Component{role, spec(s)})
	}
	return out
}

// Render writes a page. It fails when a component's keys cannot all be
// documented (a key without a doc tag).
func Render(p Page) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", p.Title)
	b.WriteString("<!-- Generated from the registered specs by `go test ./internal/refdocs -run TestReferenceDocs -update`; do not edit. -->\n\n")
	b.WriteString(p.Intro + "\n\n")
	b.WriteString("Keys come from each component's config struct (the `doc` tags beside its `yaml` tags); a default is the value the loader starts from before it decodes the YAML, and a component may still fill an empty key itself, as its description says. A secret is best given as `${VAR}`: values taken from the environment are never printed.\n\n")
	comps := Components(p.Role)
	b.WriteString("| " + p.Role + " | what it does |\n|---|---|\n")
	for _, c := range comps {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", c.Type, anchor(c.Type), cell(c.Summary))
	}
	var problems []string
	for _, c := range comps {
		doc, err := c.Doc()
		if err != nil {
			problems = append(problems, err.Error())
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", c.Type, c.Summary)
		if base, conn, bound := strings.Cut(c.Type, "/"); bound {
			fmt.Fprintf(&b, "`type: %s` with `connection:` naming a [%s connection](connections.md#%s).\n\n", base, conn, anchor(conn))
		}
		switch {
		case doc.Shape != "":
			fmt.Fprintf(&b, "Takes %s.\n\n", doc.Shape)
		case len(doc.Fields) == 0:
			b.WriteString("Takes no options.\n\n")
		default:
			b.WriteString("| key | type | default | required | description |\n|---|---|---|---|---|\n")
			writeFields(&b, "", doc.Fields)
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "```yaml\n%s\n```\n", strings.TrimRight(c.Example, "\n"))
		files := make([]string, 0, len(c.ExampleFiles))
		for name := range c.ExampleFiles {
			files = append(files, name)
		}
		sort.Strings(files)
		for _, name := range files {
			fmt.Fprintf(&b, "\n`%s`:\n\n```\n%s\n```\n", name, strings.TrimRight(c.ExampleFiles[name], "\n"))
		}
	}
	if len(problems) > 0 {
		return b.String(), fmt.Errorf("undocumented keys:\n%s", strings.Join(problems, "\n"))
	}
	return b.String(), nil
}

func writeFields(b *strings.Builder, prefix string, fs []etl.ConfigField) {
	for _, f := range fs {
		name := prefix + f.Name
		def, req := "", ""
		if f.Default != "" {
			def = "`" + cell(f.Default) + "`"
		}
		if f.Required {
			req = "yes"
		}
		desc := f.Description
		if f.Secret {
			desc += "; a secret"
		}
		if f.Example != "" {
			desc += "; e.g. `" + f.Example + "`"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", name, cell(f.Type), def, req, cell(desc))
		switch {
		case strings.HasPrefix(f.Type, "list of"):
			writeFields(b, name+"[].", f.Fields)
		case strings.HasPrefix(f.Type, "mapping of"):
			writeFields(b, name+".NAME.", f.Fields)
		default:
			writeFields(b, name+".", f.Fields)
		}
	}
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// anchor is GitHub's anchor for a heading: lower case, punctuation other
// than - and _ dropped, spaces as -.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}
