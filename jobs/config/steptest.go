package config

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/nightjar-etl/nightjar/etl"
)

// StepTest is one test of a job's steps: input rows go through the steps
// (no source, no targets) and the rows that come out, and the rejects,
// are compared with the expected ones. Tests live in a job's `tests:` list
// or in files named *.test.yaml beside the config:
//
//	job: leads
//	tests:
//	  - name: emails are normalised
//	    input:
//	      - { email: " Ann@X.COM ", lead_score: "80" }
//	      - { email: "",            lead_score: "n/a" }
//	    expect:
//	      - { email: ann@x.com, lead_score: 80, tier: hot }
//	    rejects:
//	      - { row: 2, field: lead_score, reason: expected int }
//
// Input fields keep their order; a YAML string is a string field, a number
// an int or float, true/false a bool, a mapping or list json. Expected
// rows list the fields to check (others are not compared), in the order
// the rows come out; every row must be listed. Expected rejects match on
// the input row (1-based), the field, and a substring of the reason.
type StepTest struct {
	Job  string
	Name string
	// File and Line locate the test, for messages.
	File string
	Line int

	Input   []yaml.MapSlice  `yaml:"input"`
	Expect  []yaml.MapSlice  `yaml:"expect"`
	Rejects []ExpectedReject `yaml:"rejects"`
}

// ExpectedReject is a reject a test expects.
type ExpectedReject struct {
	Row    int    `yaml:"row"`
	Field  string `yaml:"field"`
	Reason string `yaml:"reason"`
}

type stepTestYAML struct {
	Name    string           `yaml:"name"`
	Input   []yaml.MapSlice  `yaml:"input"`
	Expect  []yaml.MapSlice  `yaml:"expect"`
	Rejects []ExpectedReject `yaml:"rejects"`
}

type testFileYAML struct {
	Job   string   `yaml:"job,required"`
	Tests ast.Node `yaml:"tests,required"`
}

// StepTests returns the config's step tests: each job's `tests:` list,
// then those of *.test.yaml files in the config's directory, sorted by
// file name. Problems are reported like config errors, at FILE:LINE:COL.
func (c *Config) StepTests() ([]*StepTest, error) {
	var out []*StepTest
	d := c.dec.fork()
	for _, js := range c.Jobs {
		out = append(out, decodeTests(d, js.Name, js.tests, "jobs."+js.Name+".tests")...)
	}
	files, err := filepath.Glob(filepath.Join(c.Dir, "*.test.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, path := range files {
		data, err := readConfigFile(path)
		if err != nil {
			return nil, fmt.Errorf("read tests %s: %w", path, err)
		}
		fd := &decoder{file: path, expanded: map[*ast.StringNode]expansion{}, anchors: map[string]ast.Node{}}
		f, err := parser.ParseBytes(data, 0)
		if err != nil {
			return nil, Errors{{File: path, Msg: err.Error()}}
		}
		if len(f.Docs) == 0 || f.Docs[0].Body == nil {
			continue
		}
		es, ok := fd.entries(f.Docs[0].Body, "")
		if ok {
			var top testFileYAML
			fd.decodeStruct(es, reflect.ValueOf(&top).Elem(), "", posOf(f.Docs[0].Body))
			if top.Job != "" {
				if _, found := c.Job(top.Job); !found {
					fd.errAt(keyTok(es, "job"), choiceHint(top.Job, c.JobNames(), "jobs", ""), "unknown job %s", top.Job)
				} else {
					out = append(out, decodeTests(fd, top.Job, top.Tests, "tests")...)
				}
			}
		}
		d.errs = append(d.errs, fd.errs...)
	}
	if len(d.errs) > 0 {
		return nil, c.finish(d.errs)
	}
	return out, nil
}

func decodeTests(d *decoder, job string, node ast.Node, path string) []*StepTest {
	if node == nil {
		return nil
	}
	seq, ok := d.resolve(node).(*ast.SequenceNode)
	if !ok {
		d.typeErr(node, path, "a list of tests")
		return nil
	}
	var out []*StepTest
	for i, item := range seq.Values {
		itemPath := fmt.Sprintf("%s[%d]", path, i)
		var ty stepTestYAML
		before := len(d.errs)
		d.decode(item, reflect.ValueOf(&ty).Elem(), itemPath, posOf(item))
		if len(d.errs) > before {
			continue
		}
		name := ty.Name
		if name == "" {
			name = fmt.Sprintf("test %d", i+1)
		}
		line := 0
		if tok := posOf(d.resolve(item)); tok != nil {
			line = tok.Position.Line
		}
		out = append(out, &StepTest{Job: job, Name: name, File: d.file, Line: line, Input: ty.Input, Expect: ty.Expect, Rejects: ty.Rejects})
	}
	return out
}

// StepTestResult is the outcome of one step test.
type StepTestResult struct {
	Test *StepTest
	// Problems list every difference, one readable line each; empty when
	// the test passed.
	Problems []string
}

// Passed reports whether the test passed.
func (r *StepTestResult) Passed() bool { return len(r.Problems) == 0 }

// RunStepTest runs the test's input through its job's steps. The error is
// for a test that cannot run (a job that does not build); a step failing
// on the input is a problem of the result.
func (c *Config) RunStepTest(ctx context.Context, t *StepTest) (*StepTestResult, error) {
	built, err := c.Build(t.Job, nil, nil)
	if err != nil {
		return nil, err
	}
	res := &StepTestResult{Test: t}
	in, err := testBatch(t)
	if err != nil {
		res.Problems = append(res.Problems, "input: "+err.Error())
		return res, nil
	}
	batches, err := etl.StepChain{Steps: built.Steps}.Run(ctx, []*etl.Batch{in})
	if err != nil {
		res.Problems = append(res.Problems, "the steps failed: "+err.Error())
		return res, nil
	}
	rows, rejects := rowsAndRejects(batches)
	res.Problems = append(res.Problems, compareRows(t.Expect, rows)...)
	res.Problems = append(res.Problems, compareRejects(t, rejects)...)
	return res, nil
}

// testBatch builds the input batch: fields in order of first appearance,
// each typed by its YAML values.
func testBatch(t *StepTest) (*etl.Batch, error) {
	var names []string
	types := map[string]etl.Type{}
	for _, row := range t.Input {
		for _, kv := range row {
			name := fmt.Sprint(kv.Key)
			typ, ok := yamlType(kv.Value)
			old, seen := types[name]
			if !seen {
				names = append(names, name)
				types[name] = 0
			}
			switch {
			case !ok:
			case old == 0:
				types[name] = typ
			case old != typ && (old == etl.TypeInt && typ == etl.TypeFloat || old == etl.TypeFloat && typ == etl.TypeInt):
				types[name] = etl.TypeFloat
			case old != typ:
				return nil, fmt.Errorf("field %s has values of types %s and %s", name, old, typ)
			}
		}
	}
	fields := make([]etl.Field, len(names))
	for i, n := range names {
		typ := types[n]
		if typ == 0 {
			typ = etl.TypeString
		}
		fields[i] = etl.Field{Name: n, Type: typ}
	}
	schema, err := etl.NewSchema(fields...)
	if err != nil {
		return nil, err
	}
	b := etl.NewBatch(schema, len(t.Input))
	for r, row := range t.Input {
		vals := make(map[string]any, len(row))
		for _, kv := range row {
			vals[fmt.Sprint(kv.Key)] = kv.Value
		}
		for j, n := range names {
			if err := b.Cols[j].Append(yamlValue(vals[n])); err != nil {
				return nil, fmt.Errorf("row %d field %s: %w", r+1, n, err)
			}
		}
		b.Origins = append(b.Origins, etl.Origin{File: "input", Line: int64(r + 1)})
	}
	return b, nil
}

func yamlValue(v any) any {
	switch x := v.(type) {
	case uint64:
		return int64(x)
	case int:
		return int64(x)
	case yaml.MapSlice:
		m := make(map[string]any, len(x))
		for _, kv := range x {
			m[fmt.Sprint(kv.Key)] = yamlValue(kv.Value)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = yamlValue(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = yamlValue(e)
		}
		return out
	}
	return v
}

func yamlType(v any) (etl.Type, bool) {
	switch v.(type) {
	case nil:
		return 0, false
	case string:
		return etl.TypeString, true
	case uint64, int64, int:
		return etl.TypeInt, true
	case float64:
		return etl.TypeFloat, true
	case bool:
		return etl.TypeBool, true
	}
	return etl.TypeJSON, true
}

// cellText is a value as a test compares it: text, JSON for nested
// values, "null" for null.
func cellText(v any) string {
	switch x := yamlValue(v).(type) {
	case nil:
		return "null"
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	default:
		return etl.FormatValue(x)
	}
}

func compareRows(expect []yaml.MapSlice, got []*etl.Batch) []string {
	var problems []string
	type outRow struct {
		b *etl.Batch
		i int
	}
	var rows []outRow
	for _, b := range got {
		for i := 0; i < b.Len(); i++ {
			rows = append(rows, outRow{b, i})
		}
	}
	if len(rows) != len(expect) {
		problems = append(problems, fmt.Sprintf("got %d rows, want %d", len(rows), len(expect)))
	}
	for r := 0; r < max(len(rows), len(expect)); r++ {
		switch {
		case r >= len(rows):
			problems = append(problems, fmt.Sprintf("row %d: missing, want %s", r+1, showExpected(expect[r])))
			continue
		case r >= len(expect):
			problems = append(problems, fmt.Sprintf("row %d: unexpected %s", r+1, showRow(rows[r].b, rows[r].i)))
			continue
		}
		b, i := rows[r].b, rows[r].i
		for _, kv := range expect[r] {
			name := fmt.Sprint(kv.Key)
			want := cellText(kv.Value)
			col := b.Col(name)
			if col == nil {
				problems = append(problems, fmt.Sprintf("row %d: no field %s (have: %s)", r+1, name, strings.Join(b.Schema.Names(), ", ")))
				continue
			}
			got := cellText(col.Value(i))
			if got != want {
				problems = append(problems, fmt.Sprintf("row %d (from %s): %s: got %q, want %q", r+1, b.Origins[i], name, got, want))
			}
		}
	}
	return problems
}

func showExpected(row yaml.MapSlice) string {
	parts := make([]string, len(row))
	for i, kv := range row {
		parts[i] = fmt.Sprintf("%v: %s", kv.Key, cellText(kv.Value))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

func showRow(b *etl.Batch, i int) string {
	parts := make([]string, len(b.Cols))
	for j := range b.Cols {
		parts[j] = fmt.Sprintf("%s: %s", b.Schema.Field(j).Name, cellText(b.Cols[j].Value(i)))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

func compareRejects(t *StepTest, got []etl.Reject) []string {
	var problems []string
	used := make([]bool, len(got))
	for _, want := range t.Rejects {
		found := false
		for k, r := range got {
			if used[k] || want.Row != 0 && int(r.Origin.Line) != want.Row || want.Field != "" && r.Field != want.Field ||
				!strings.Contains(r.Reason, want.Reason) {
				continue
			}
			used[k], found = true, true
			break
		}
		if !found {
			problems = append(problems, fmt.Sprintf("missing reject: row %d field %s reason containing %q", want.Row, want.Field, want.Reason))
		}
	}
	for k, r := range got {
		if !used[k] {
			problems = append(problems, fmt.Sprintf("unexpected reject: row %d field %s: %s (%s)", r.Origin.Line, r.Field, r.Reason, r.Step))
		}
	}
	return problems
}
