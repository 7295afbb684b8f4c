package etl_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

type docInner struct {
	Delimiter string `yaml:"delimiter" doc:"one character"`
}

type docShaped []string

func (*docShaped) UnmarshalYAML(func(any) error) error { return nil }
func (*docShaped) ConfigShape() string                 { return "a name or a list of names" }

type docShared struct {
	Timeout time.Duration `yaml:"timeout" doc:"bounds one attempt"`
}

type docConfig struct {
	Path      string            `yaml:"path,required" doc:"a glob" example:"in/*.csv"`
	Token     string            `yaml:"token" doc:"a bearer token" secret:"true"`
	Mode      string            `yaml:"mode" doc:"append or merge"`
	Rows      int               `yaml:"rows" doc:"rows per commit"`
	Key       docShaped         `yaml:"key" doc:"the key fields"`
	CSV       *docInner         `yaml:"csv" doc:"CSV reading"`
	Map       map[string]string `yaml:"map" doc:"names to fields"`
	docShared `yaml:",inline"`
	Skipped   string `yaml:"-"`
}

func TestSpecDoc(t *testing.T) {
	spec := etl.Spec{Type: "x", Config: func() any {
		return &docConfig{Mode: "append", Rows: 1000, docShared: docShared{Timeout: 90 * time.Second}}
	}}
	doc, err := spec.Doc()
	if err != nil {
		t.Fatal(err)
	}
	want := etl.ConfigDoc{Fields: []etl.ConfigField{
		{Name: "path", Type: "string", Required: true, Description: "a glob", Example: "in/*.csv"},
		{Name: "token", Type: "string", Secret: true, Description: "a bearer token"},
		{Name: "mode", Type: "string", Default: "append", Description: "append or merge"},
		{Name: "rows", Type: "int", Default: "1000", Description: "rows per commit"},
		{Name: "key", Type: "a name or a list of names", Description: "the key fields"},
		{Name: "csv", Type: "object", Description: "CSV reading", Fields: []etl.ConfigField{
			{Name: "delimiter", Type: "string", Description: "one character"},
		}},
		{Name: "map", Type: "mapping of string to string", Description: "names to fields"},
		{Name: "timeout", Type: "duration", Default: "1m30s", Description: "bounds one attempt"},
	}}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("doc (-want +got):\n%s", diff)
	}
}

type undocumented struct {
	Name  string          `yaml:"name"`
	Inner struct{ A int } `yaml:"inner" doc:"nested"`
	Self  selfDecoding    `yaml:"self" doc:"decodes itself"`
}

type selfDecoding struct{}

func (*selfDecoding) UnmarshalText([]byte) error { return nil }

// TestSpecDocNamesEveryProblem: a key without a doc tag, nested or not,
// and a self-decoding type without a shape are all named, with the Go
// field to fix.
func TestSpecDocNamesEveryProblem(t *testing.T) {
	_, err := etl.Spec{Type: "y", Config: func() any { return new(undocumented) }}.Doc()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		"y.name has no doc tag (etl_test.undocumented.Name)",
		"y.inner.a has no doc tag",
		"y.self: etl_test.selfDecoding decodes itself but has no ConfigShape",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
