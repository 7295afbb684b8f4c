package etl

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
)

// Spec describes a component for the config loader and the docs: its type
// name, a one-line summary, a YAML example (which a test runs through
// validation) and a constructor of its config with defaults filled in.
type Spec struct {
	// Type is the name used in YAML. Components bound to a connection are
	// registered as "<type>/<connection type>", e.g. "table/sqlite".
	Type    string
	Summary string
	Example string
	// ExampleFiles are files the example names (a query file, say), by
	// path relative to the config, with their contents: the docs show
	// them and the examples test writes them beside the config.
	ExampleFiles map[string]string
	// Config returns a pointer to a new config value with its defaults;
	// the loader decodes the component's YAML into it strictly.
	Config func() any
}

// Connection is a named connection from the config's connections section,
// with its decoded, validated config.
type Connection struct {
	Name   string
	Type   string
	Config any
}

// BuildEnv is what constructors get besides their config.
type BuildEnv struct {
	// BaseDir is the directory of the config file; relative paths in the
	// config are relative to it.
	BaseDir string
	// Connection is the component's connection, for components bound to
	// one; nil otherwise.
	Connection *Connection
	// StepName is "step 3 cast" (1-based) for a step, for rejects and errors.
	StepName string
	// BatchSize is the job's batch size: the most rows a step that holds
	// rows should emit per batch when it flushes.
	BatchSize int
	Logger    *slog.Logger
}

// FieldError is a constructor's error about one key of its config; the
// loader turns Path into the file, line and column of that key.
type FieldError struct {
	Path []string // keys below the component's node, e.g. ["fields", "score"]
	Err  error
}

func (e *FieldError) Error() string { return fmt.Sprintf("%v: %v", e.Path, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// SourceSpec registers a source type.
type SourceSpec struct {
	Spec
	New func(cfg any, env BuildEnv) (Source, error)
}

// StepSpec registers a step kind.
type StepSpec struct {
	Spec
	New func(cfg any, env BuildEnv) (Step, error)
}

// TargetSpec registers a target type.
type TargetSpec struct {
	Spec
	New func(cfg any, env BuildEnv) (Target, error)
}

// ConnectionSpec registers a connection type.
type ConnectionSpec struct {
	Spec
	// Validate checks a decoded connection config; it may be nil.
	Validate func(cfg any, baseDir string) error
}

var registry struct {
	sync.RWMutex
	sources     map[string]SourceSpec
	steps       map[string]StepSpec
	targets     map[string]TargetSpec
	connections map[string]ConnectionSpec
}

func register[T any](m *map[string]T, kind, name string, spec T) {
	registry.Lock()
	defer registry.Unlock()
	if *m == nil {
		*m = make(map[string]T)
	}
	if _, dup := (*m)[name]; dup {
		panic(fmt.Sprintf("etl: %s %q registered twice", kind, name))
	}
	(*m)[name] = spec
}

func lookup[T any](m map[string]T, name string) (T, bool) {
	registry.RLock()
	defer registry.RUnlock()
	s, ok := m[name]
	return s, ok
}

func names[T any](m map[string]T) []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// RegisterSource registers a source type; call it from init.
func RegisterSource(s SourceSpec) { register(&registry.sources, "source", s.Type, s) }

// RegisterStep registers a step kind; call it from init.
func RegisterStep(s StepSpec) { register(&registry.steps, "step", s.Type, s) }

// RegisterTarget registers a target type; call it from init.
func RegisterTarget(s TargetSpec) { register(&registry.targets, "target", s.Type, s) }

// RegisterConnection registers a connection type; call it from init.
func RegisterConnection(s ConnectionSpec) {
	register(&registry.connections, "connection", s.Type, s)
}

// LookupSource returns the registered source type.
func LookupSource(name string) (SourceSpec, bool) { return lookup(registry.sources, name) }

// LookupStep returns the registered step kind.
func LookupStep(name string) (StepSpec, bool) { return lookup(registry.steps, name) }

// LookupTarget returns the registered target type.
func LookupTarget(name string) (TargetSpec, bool) { return lookup(registry.targets, name) }

// LookupConnection returns the registered connection type.
func LookupConnection(name string) (ConnectionSpec, bool) {
	return lookup(registry.connections, name)
}

// SourceTypes lists registered source types, sorted.
func SourceTypes() []string { return names(registry.sources) }

// StepKinds lists registered step kinds, sorted.
func StepKinds() []string { return names(registry.steps) }

// TargetTypes lists registered target types, sorted.
func TargetTypes() []string { return names(registry.targets) }

// ConnectionTypes lists registered connection types, sorted.
func ConnectionTypes() []string { return names(registry.connections) }
