package config

import (
	"reflect"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// DecodeComponent decodes YAML src into cfg, a pointer such as a
// Spec.Config value, with the loader's strict decoder: unknown keys and
// wrong types are errors with their line and column. Variables are not
// expanded. It is for tools that check a component's spec against its
// decoding (the reference docs' tests).
func DecodeComponent(file string, src []byte, cfg any) error {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return Errors{{File: file, Msg: err.Error()}}
	}
	d := &decoder{file: file, expanded: map[*ast.StringNode]expansion{}, anchors: map[string]ast.Node{}}
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || len(f.Docs) == 0 {
		return Errors{{File: file, Msg: "nothing to decode into"}}
	}
	d.decode(f.Docs[0].Body, rv.Elem(), "", posOf(f.Docs[0].Body))
	if len(d.errs) > 0 {
		d.errs.sort()
		return d.errs
	}
	return nil
}
