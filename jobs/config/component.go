package config

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
	"github.com/nightjar-etl/nightjar/etl"
)

// component is a source, step, target or connection as found in the file:
// enough to decode a fresh config and call the registered constructor.
type component struct {
	label string   // path for messages: "jobs.leads.steps[1].trim"
	kind  string   // what it is, for hints: "target table/sqlite"
	name  string   // the name the component reports: "step 2 trim" (1-based, as users count)
	node  ast.Node // the node that FieldError paths start from
	// entries are the keys to decode, "type" and "connection" removed;
	// unused for a step, whose whole node is its config.
	entries []entry
	isStep  bool
	blame   *token.Token // position for errors about the whole component
	config  func() any
	build   func(cfg any, env etl.BuildEnv) (any, error)
	conn    *etl.Connection
	// route is a target's `name:`, the route of the rows it receives.
	route string
}

// config decodes a fresh config value for c; nil when the component takes
// none or when decoding failed (the problems are in d.errs).
func (d *decoder) componentConfig(c *component) (any, bool) {
	before := len(d.errs)
	if c.config == nil {
		if c.isStep {
			if n := d.resolve(c.node); !isNull(n) {
				d.errAt(posOf(n), "remove the value", "%s: this step takes no options", c.label)
			}
		} else {
			for _, e := range c.entries {
				d.errAt(e.keyTok, "this type takes no options", "unknown key %s in %s", e.key, c.label)
			}
		}
		return nil, len(d.errs) == before
	}
	cfg := c.config()
	d.within, d.withinPath = c.kind, c.label
	defer func() { d.within, d.withinPath = "", "" }()
	rv := reflect.ValueOf(cfg)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
		d.errAt(c.blame, "", "%s: the registered config is %T, not a pointer (a bug in the component)", c.label, cfg)
		return nil, false
	}
	if c.isStep {
		d.decode(c.node, rv.Elem(), c.label, c.blame)
	} else {
		d.decodeEntries(c.entries, rv.Elem(), c.label, c.blame)
	}
	return cfg, len(d.errs) == before
}

// decodeEntries decodes already-listed mapping entries into rv.
func (d *decoder) decodeEntries(es []entry, rv reflect.Value, path string, blame *token.Token) {
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		d.decodeEntries(es, rv.Elem(), path, blame)
	case reflect.Struct:
		d.decodeStruct(es, rv, path, blame)
	case reflect.Map:
		d.decodeMap(es, rv, path)
	case reflect.Interface:
		m := make(map[string]any, len(es))
		for _, e := range es {
			m[e.key] = d.generic(e.value, joinPath(path, e.key))
		}
		rv.Set(reflect.ValueOf(m))
	default:
		d.errAt(blame, "", "%s: cannot decode a mapping into %s (a bug in the component's config type)", path, rv.Type())
	}
}

// instantiate decodes a fresh config and calls the constructor, reporting
// its errors at the key a *etl.FieldError names.
func (d *decoder) instantiate(c *component, env etl.BuildEnv) (any, bool) {
	cfg, ok := d.componentConfig(c)
	if !ok {
		return nil, false
	}
	env.Connection = c.conn
	if c.isStep {
		env.StepName = c.name
	}
	v, err := safeBuild(c.build, cfg, env)
	if err == nil && v == nil {
		err = errors.New("constructor returned nothing (a bug in the component)")
	}
	if err != nil {
		d.componentErr(c, err)
		return nil, false
	}
	return v, true
}

// safeBuild turns a constructor's panic into an error, so that one broken
// component cannot crash validation.
func safeBuild(build func(any, etl.BuildEnv) (any, error), cfg any, env etl.BuildEnv) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("constructor panicked: %v", r)
		}
	}()
	return build(cfg, env)
}

func (d *decoder) componentErr(c *component, err error) {
	var fe *etl.FieldError
	if errors.As(err, &fe) && len(fe.Path) == 0 {
		err = fe.Err // about the whole component
	} else if fe != nil {
		path := c.label
		for _, p := range fe.Path {
			if _, err := strconv.Atoi(p); err == nil {
				path += "[" + p + "]"
			} else {
				path = joinPath(path, p)
			}
		}
		tok, _ := d.locate(c.node, fe.Path, c.blame)
		d.errAt(tok, "", "%s: %v", path, fe.Err)
		return
	}
	d.errAt(c.blame, "", "%s: %v", c.label, err)
}

// locate finds the key at path below n (a list index selects an item). It
// returns the position of that key, or of the deepest part of the path
// that exists (fallback when not even the first part does), and the key's
// value node, nil when the path does not exist.
func (d *decoder) locate(n ast.Node, path []string, fallback *token.Token) (*token.Token, ast.Node) {
	quiet := d.fork()
	tok := fallback
	for _, p := range path {
		n = quiet.resolve(n)
		if seq, ok := n.(*ast.SequenceNode); ok {
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(seq.Values) {
				return tok, nil
			}
			n = seq.Values[i]
			tok = posOf(n)
			continue
		}
		es, ok := quiet.entries(n, "")
		if !ok {
			return tok, nil
		}
		found := false
		for _, e := range es {
			if e.key == p {
				n, tok, found = e.value, e.keyTok, true
				break
			}
		}
		if !found {
			return tok, nil
		}
	}
	return tok, n
}

// discardLogger is what constructors get at validation time.
var discardLogger = slog.New(slog.DiscardHandler)
