package schedule_test

import (
	"context"

	"github.com/nightjar-etl/nightjar/etl"
)

// Fake components, registered under test-only names so that the scheduler
// tests load configs without the real connectors: a source of no rows and
// a target that keeps nothing.

type pathConfig struct {
	Path string `yaml:"path,required"`
}

type emptySource struct{}

func (emptySource) Open(context.Context, etl.SourceEnv) error { return nil }
func (emptySource) Next(context.Context) (*etl.Batch, error)  { return nil, etl.ErrEndOfInput }
func (emptySource) Close(context.Context) error               { return nil }

type discardTarget struct{}

func (discardTarget) Open(context.Context, etl.TargetEnv) error { return nil }
func (discardTarget) Write(context.Context, *etl.Batch) error   { return nil }
func (discardTarget) Commit(context.Context) error              { return nil }
func (discardTarget) Close() error                              { return nil }
func (discardTarget) Durability() etl.Durability                { return etl.DurablePerBatch }

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{Type: "testsrc", Config: func() any { return &pathConfig{} }},
		New:  func(any, etl.BuildEnv) (etl.Source, error) { return emptySource{}, nil },
	})
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{Type: "testfile", Config: func() any { return &pathConfig{} }},
		New:  func(any, etl.BuildEnv) (etl.Target, error) { return discardTarget{}, nil },
	})
}
