package config

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// Fake components, registered under test-only names so that this package's
// tests do not depend on the real connectors and steps.

type csvOptions struct {
	Delimiter string `yaml:"delimiter"`
	Header    bool   `yaml:"header"`
}

type srcConfig struct {
	Path    string        `yaml:"path,required"`
	Format  string        `yaml:"format"`
	CSV     csvOptions    `yaml:"csv"`
	Columns []string      `yaml:"columns"`
	Limit   int           `yaml:"limit"`
	Settle  time.Duration `yaml:"settle"`
	Watch   *bool         `yaml:"watch"`
	Extra   any           `yaml:"extra"`
}

type sqlSrcConfig struct {
	Query string `yaml:"query,required"`
}

type fakeSource struct {
	cfg any
	env etl.BuildEnv
}

func (*fakeSource) Open(context.Context, etl.SourceEnv) error               { return nil }
func (*fakeSource) Next(context.Context) (*etl.Batch, error)                { return nil, etl.ErrEndOfInput }
func (*fakeSource) Close(context.Context) error                             { return nil }
func (*fakeStep) Apply(_ context.Context, b *etl.Batch) (*etl.Batch, error) { return b, nil }

var _ etl.Source = (*fakeSource)(nil)

type fakeStep struct {
	cfg any
	env etl.BuildEnv
}

var _ etl.Step = (*fakeStep)(nil)

type dedupeConfig struct {
	Key  []string `yaml:"key,required"`
	Keep string   `yaml:"keep"`
}

type fileTargetConfig struct {
	Path   string `yaml:"path,required"`
	Format string `yaml:"format"`
}

type tableConfig struct {
	Table string   `yaml:"table,required"`
	Mode  string   `yaml:"mode" doc:"append, replace or merge"`
	Key   []string `yaml:"key"`
}

type fakeTarget struct {
	cfg any
	env etl.BuildEnv
}

func (*fakeTarget) Open(context.Context, etl.TargetEnv) error { return nil }
func (*fakeTarget) Write(context.Context, *etl.Batch) error   { return nil }
func (*fakeTarget) Commit(context.Context) error              { return nil }
func (*fakeTarget) Close() error                              { return nil }
func (*fakeTarget) Durability() etl.Durability                { return etl.DurablePerBatch }

var _ etl.Target = (*fakeTarget)(nil)

type poolConfig struct {
	Max int `yaml:"max"`
}

type testdbConfig struct {
	DSN  string     `yaml:"dsn,required"`
	Pool poolConfig `yaml:"pool"`
}

type apiConfig struct {
	Token string `yaml:"token"`
}

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{Type: "testsrc", Summary: "fake file source", Config: func() any {
			return &srcConfig{Format: "csv", CSV: csvOptions{Delimiter: ",", Header: true}, Limit: 100}
		}},
		New: func(cfg any, env etl.BuildEnv) (etl.Source, error) {
			c := cfg.(*srcConfig)
			if strings.HasPrefix(c.Path, "fail:") {
				// echoes the value, as careless constructors do
				return nil, fmt.Errorf("cannot use path %s", c.Path)
			}
			return &fakeSource{cfg: cfg, env: env}, nil
		},
	})
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{Type: "testsql/testdb", Config: func() any { return &sqlSrcConfig{} }},
		New: func(cfg any, env etl.BuildEnv) (etl.Source, error) {
			return &fakeSource{cfg: cfg, env: env}, nil
		},
	})
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{Type: "testrename", Config: func() any { return &map[string]string{} }},
		New: func(cfg any, env etl.BuildEnv) (etl.Step, error) {
			return &fakeStep{cfg: cfg, env: env}, nil
		},
	})
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{Type: "testtrim", Config: func() any { return &[]string{} }},
		New: func(cfg any, env etl.BuildEnv) (etl.Step, error) {
			return &fakeStep{cfg: cfg, env: env}, nil
		},
	})
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{Type: "testfilter", Config: func() any { return new(string) }},
		New: func(cfg any, env etl.BuildEnv) (etl.Step, error) {
			if strings.Contains(*cfg.(*string), "??") {
				return nil, &etl.FieldError{Err: errors.New("expression is ambiguous")}
			}
			if strings.Contains(*cfg.(*string), "!!") {
				return nil, errors.New("expression does not compile")
			}
			return &fakeStep{cfg: cfg, env: env}, nil
		},
	})
	// testset: every value is an "expression"; one containing "!!" does
	// not compile, reported as a FieldError naming its key.
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{Type: "testset", Config: func() any { return &map[string]string{} }},
		New: func(cfg any, env etl.BuildEnv) (etl.Step, error) {
			for k, v := range *cfg.(*map[string]string) {
				if strings.Contains(v, "!!") {
					return nil, &etl.FieldError{Path: []string{k}, Err: fmt.Errorf("expression %q does not compile", v)}
				}
			}
			return &fakeStep{cfg: cfg, env: env}, nil
		},
	})
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{Type: "testdedupe", Config: func() any { return &dedupeConfig{Keep: "last"} }},
		New: func(cfg any, env etl.BuildEnv) (etl.Step, error) {
			for i, k := range cfg.(*dedupeConfig).Key {
				if k == "" {
					return nil, &etl.FieldError{Path: []string{"key", strconv.Itoa(i)}, Err: errors.New("empty field name")}
				}
			}
			if k := cfg.(*dedupeConfig).Keep; k != "first" && k != "last" {
				return nil, &etl.FieldError{Path: []string{"keep"}, Err: fmt.Errorf("want first or last, got %q", k)}
			}
			return &fakeStep{cfg: cfg, env: env}, nil
		},
	})
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{Type: "testnoop"},
		New: func(cfg any, env etl.BuildEnv) (etl.Step, error) {
			return &fakeStep{cfg: cfg, env: env}, nil
		},
	})
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{Type: "testfile", Config: func() any { return &fileTargetConfig{Format: "csv"} }},
		New: func(cfg any, env etl.BuildEnv) (etl.Target, error) {
			return &fakeTarget{cfg: cfg, env: env}, nil
		},
	})
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{Type: "table/testdb", Config: func() any { return &tableConfig{Mode: "append"} }},
		New: func(cfg any, env etl.BuildEnv) (etl.Target, error) {
			c := cfg.(*tableConfig)
			switch c.Mode {
			case "append", "replace", "merge":
			default:
				return nil, &etl.FieldError{Path: []string{"mode"}, Err: fmt.Errorf("want append, replace or merge, got %q", c.Mode)}
			}
			if c.Mode == "merge" && len(c.Key) == 0 {
				return nil, &etl.FieldError{Path: []string{"key"}, Err: errors.New("merge needs a key")}
			}
			return &fakeTarget{cfg: cfg, env: env}, nil
		},
	})
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{Type: "testdb", Config: func() any { return &testdbConfig{Pool: poolConfig{Max: 4}} }},
		Validate: func(cfg any, baseDir string) error {
			if dsn := cfg.(*testdbConfig).DSN; !strings.HasPrefix(dsn, "test:") {
				return &etl.FieldError{Path: []string{"dsn"}, Err: fmt.Errorf("dsn %s must start with test:", dsn)}
			}
			return nil
		},
	})
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{Type: "testapi", Config: func() any { return &apiConfig{} }},
	})
}
