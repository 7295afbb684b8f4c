package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/robfig/cron/v3"
)

// Config is a loaded, validated config file.
type Config struct {
	// Path is the absolute path of the config file.
	Path string
	// Dir is its directory; relative paths in the config are relative to it.
	Dir string
	// State is the absolute path of the state database: the `state:` key,
	// or <Dir>/.nightjar/state.db. With StateType "postgres" it is the
	// PostgreSQL connection string instead (a secret: print it redacted).
	State string
	// StateType is the state store's kind: "sqlite" (the default) or
	// "postgres".
	StateType string
	// StateSchema is the PostgreSQL schema of the state store ("" for the
	// store's default).
	StateSchema string
	// Jobs are in file order.
	Jobs []*JobSpec
	// Connections are the decoded, validated connections by name.
	Connections map[string]*etl.Connection

	secrets  []string // values taken from the environment
	redactor *strings.Replacer
	dec      *decoder
}

// OnReject says what rejected rows may do to a run.
type OnReject struct {
	// MaxRatio fails a run whose rejected/read ratio ends above it, from 0
	// to 1; 0 (or 1) means no limit. Unset, it is DefaultMaxRejectRatio.
	MaxRatio float64 `yaml:"max_ratio"`
}

// DefaultMaxRejectRatio is on_reject.max_ratio when a job does not set it:
// a file of which more than a tenth is rejected is more likely the wrong
// file, delimiter or layout than a few bad rows, and a run that exits 0
// with 1,000 of 1,001 rows quarantined hides that.
const DefaultMaxRejectRatio = 0.1

// JobSpec is one job of the config, validated. Its components are kept as
// YAML nodes; Config.Build makes fresh instances of them for each run.
type JobSpec struct {
	Name        string
	Description string
	// Schedule is the cron expression ("" for jobs run by hand only); it
	// parses with ParseSchedule.
	Schedule  string
	BatchSize int // etl.DefaultBatchSize unless set
	OnReject  OnReject
	// Timeout, Retries, RetryBackoff, Catchup and Jitter drive the
	// scheduler (see package jobs/schedule).
	Timeout      time.Duration
	Retries      int
	RetryBackoff time.Duration
	Catchup      CatchupPolicy // CatchupLatest unless set
	Jitter       time.Duration
	// Line is the line of the job's key in the config file.
	Line int

	schedule cron.Schedule // parsed Schedule; nil without one

	source  *component
	steps   []*component
	targets []*component
	tests   ast.Node // the `tests:` list: step tests, for `nightjar test` (see StepTest)
}

// fileYAML is the top level of the file.
type fileYAML struct {
	State       stateYAML `yaml:"state"`
	Connections ast.Node  `yaml:"connections"`
	Jobs        ast.Node  `yaml:"jobs,required"`
}

// jobYAML is one job.
type jobYAML struct {
	Description  string        `yaml:"description"`
	Schedule     string        `yaml:"schedule"`
	Source       ast.Node      `yaml:"source,required"`
	Steps        ast.Node      `yaml:"steps"`
	Targets      ast.Node      `yaml:"targets,required"`
	BatchSize    int           `yaml:"batch_size"`
	OnReject     OnReject      `yaml:"on_reject"`
	Timeout      time.Duration `yaml:"timeout"`
	Retries      int           `yaml:"retries"`
	RetryBackoff time.Duration `yaml:"retry_backoff"`
	Catchup      string        `yaml:"catchup"`
	Jitter       time.Duration `yaml:"jitter"`
	Tests        ast.Node      `yaml:"tests"`
}

// minSecretLen is the shortest environment value Redact hides: shorter
// ones ("1", "on") would blank out unrelated text everywhere.
const minSecretLen = 4

// Load reads, expands and validates the config file at path. On any
// problem it returns an Errors value listing all of them, each at its file
// (path as given), line and column. Every component's constructor is
// called once, so constructor errors (an expression that does not
// compile) are reported here; constructors do no I/O.
func Load(path string) (*Config, error) {
	return load(path, os.LookupEnv)
}

type loader struct {
	cfg *Config
	d   *decoder
	// broken connections are defined but invalid: using one is not
	// reported again.
	broken map[string]bool
	// faulty connections have a type but errors in their own keys: the
	// components using them are decoded but not built, or each would
	// report the same error again (a bad DSN once for the connection,
	// once per target).
	faulty map[*etl.Connection]bool
}

func load(path string, lookup func(string) (string, bool)) (*Config, error) {
	fail := func(format string, args ...any) error {
		return Errors{{File: path, Msg: fmt.Sprintf(format, args...)}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fail("resolve config path: %v", err)
	}
	data, err := readConfigFile(path)
	if err != nil {
		return nil, fail("read config: %v", err)
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		var se *yaml.SyntaxError
		if errors.As(err, &se) && se.Token != nil {
			return nil, Errors{{File: path, Line: se.Token.Position.Line, Col: se.Token.Position.Column, Msg: se.Message}}
		}
		return nil, fail("parse config: %v", err)
	}

	d := &decoder{file: path, expanded: map[*ast.StringNode]expansion{}, anchors: map[string]ast.Node{}}
	var body ast.Node
	for _, doc := range file.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			d.errAt(posOf(doc.Body), "keep one document per config file", "a second YAML document is not allowed")
			continue
		}
		body = doc.Body
		for _, a := range ast.Filter(ast.AnchorType, doc) {
			anchor := a.(*ast.AnchorNode)
			d.anchors[anchor.Name.GetToken().Value] = anchor.Value
		}
	}
	if body == nil {
		return nil, fail("config is empty: it needs a jobs section")
	}
	if d.checkExpansion(body); len(d.errs) > 0 {
		return nil, d.errs
	}
	d.expandTree(body, lookup)

	cfg := &Config{
		Path:        abs,
		Dir:         filepath.Dir(abs),
		Connections: map[string]*etl.Connection{},
		dec:         d,
	}
	l := &loader{cfg: cfg, d: d, broken: map[string]bool{}, faulty: map[*etl.Connection]bool{}}
	if es, ok := d.entries(body, ""); ok {
		l.top(es)
	}
	cfg.secrets = d.secrets
	cfg.redactor = newRedactor(d.secrets)
	if len(d.errs) > 0 {
		return nil, cfg.finish(d.errs)
	}
	d.secrets = nil
	return cfg, nil
}

// finish redacts and sorts errors for the user.
func (c *Config) finish(errs Errors) Errors {
	out := make(Errors, len(errs))
	for i, e := range errs {
		r := *e
		r.Msg, r.Hint = c.Redact(r.Msg), c.Redact(r.Hint)
		out[i] = &r
	}
	out.sort()
	return out
}

func (l *loader) top(es []entry) {
	d, cfg := l.d, l.cfg
	// "x-" keys are free for anchors to be aliased elsewhere
	known := es[:0:0]
	for _, e := range es {
		if !strings.HasPrefix(e.key, "x-") {
			known = append(known, e)
		}
	}
	var top fileYAML
	d.decodeStruct(known, reflect.ValueOf(&top).Elem(), "", nil)

	cfg.StateType = StateSQLite
	switch st := top.State; {
	case st.Type == StatePostgres:
		cfg.StateType, cfg.State, cfg.StateSchema = StatePostgres, st.DSN, st.Schema
	case st.Path == "":
		cfg.State = filepath.Join(cfg.Dir, ".nightjar", "state.db")
	case filepath.IsAbs(st.Path):
		cfg.State = filepath.Clean(st.Path)
	default:
		cfg.State = filepath.Join(cfg.Dir, st.Path)
	}

	if top.Connections != nil {
		if conns, ok := d.entries(top.Connections, "connections"); ok {
			for _, e := range conns {
				l.connection(e)
			}
		}
	}
	if top.Jobs != nil {
		jobs, ok := d.entries(top.Jobs, "jobs")
		if ok && len(jobs) == 0 {
			d.errAt(posOf(top.Jobs), "", "jobs: no jobs defined")
		}
		for _, e := range jobs {
			l.job(e)
		}
	}
}

// splitType takes the "type" (and, if wanted, "connection") keys out of a
// component's entries.
func (l *loader) splitType(es []entry, withConn bool) (typ, conn *entry, rest []entry) {
	for i := range es {
		switch {
		case es[i].key == "type":
			typ = &es[i]
		case withConn && es[i].key == "connection":
			conn = &es[i]
		default:
			rest = append(rest, es[i])
		}
	}
	return typ, conn, rest
}

// name reads a scalar naming something (a type, a connection); display is
// safe to print.
func (l *loader) name(e *entry, path string) (name, display string, ok bool) {
	n := l.d.resolve(e.value)
	text, shown, isScalar := l.d.scalar(n)
	if !isScalar || isNull(n) || text == "" {
		l.d.typeErr(e.value, joinPath(path, e.key), "a name")
		return "", "", false
	}
	display = text
	if shown != quoteShort(text) {
		display = shown
	}
	return text, display, true
}

func (l *loader) connection(e entry) {
	d := l.d
	path := joinPath("connections", e.key)
	l.broken[e.key] = true
	es, ok := d.entries(e.value, path)
	if !ok {
		return
	}
	typEntry, _, rest := l.splitType(es, false)
	types := etl.ConnectionTypes()
	if typEntry == nil {
		d.errAt(e.keyTok, choiceHint("", types, "connection types", ""), "%s: missing key type", path)
		return
	}
	typ, display, ok := l.name(typEntry, path)
	if !ok {
		return
	}
	spec, ok := etl.LookupConnection(typ)
	if !ok {
		d.errAt(posOf(typEntry.value), choiceHint(typ, types, "connection types", "no connection types are registered"),
			"%s: unknown connection type %s", path, display)
		return
	}
	// Once its type is known the connection is usable for checking the
	// components that name it, even if its own keys have problems (those
	// are reported, and the load fails anyway).
	delete(l.broken, e.key)
	c := &component{label: path, kind: "connection " + typ, node: e.value, entries: rest, blame: e.keyTok, config: spec.Config}
	cfg, ok := d.componentConfig(c)
	conn := &etl.Connection{Name: e.key, Type: typ, Config: cfg}
	l.cfg.Connections[e.key] = conn
	if ok && spec.Validate != nil {
		if err := spec.Validate(cfg, l.cfg.Dir); err != nil {
			d.componentErr(c, err)
			ok = false
		}
	}
	if !ok {
		l.faulty[conn] = true
	}
}

func validJobName(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

func (l *loader) job(e entry) {
	d := l.d
	path := joinPath("jobs", e.key)
	if !validJobName(e.key) {
		d.errAt(e.keyTok, "use letters, digits, '_', '-' and '.'", "invalid job name %q", e.key)
	}
	es, ok := d.entries(e.value, path)
	if !ok {
		return
	}
	jy := jobYAML{OnReject: OnReject{MaxRatio: DefaultMaxRejectRatio}}
	d.decodeStruct(es, reflect.ValueOf(&jy).Elem(), path, e.keyTok)
	js := &JobSpec{
		Name:         e.key,
		Description:  jy.Description,
		Schedule:     jy.Schedule,
		BatchSize:    jy.BatchSize,
		OnReject:     jy.OnReject,
		Timeout:      jy.Timeout,
		Retries:      jy.Retries,
		RetryBackoff: jy.RetryBackoff,
		Catchup:      CatchupPolicy(jy.Catchup),
		Jitter:       jy.Jitter,
		Line:         e.keyTok.Position.Line,
		tests:        jy.Tests,
	}
	l.cfg.Jobs = append(l.cfg.Jobs, js)

	// at is the position of the value at keys, for checks on decoded values
	at := func(keys ...string) *token.Token {
		tok, value := d.locate(e.value, keys, e.keyTok)
		if value == nil || isNull(d.resolve(value)) {
			return tok
		}
		return posOf(d.resolve(value))
	}
	if js.BatchSize < 0 {
		d.errAt(at("batch_size"), "", "%s.batch_size: must be positive, got %d", path, js.BatchSize)
	}
	if js.BatchSize <= 0 {
		js.BatchSize = etl.DefaultBatchSize
	}
	if r := js.OnReject.MaxRatio; r < 0 || r > 1 || r != r {
		d.errAt(at("on_reject", "max_ratio"), "0.05 means 5 %", "%s.on_reject.max_ratio: must be between 0 and 1, got %v", path, r)
	}
	if js.Retries < 0 {
		d.errAt(at("retries"), "", "%s.retries: must not be negative, got %d", path, js.Retries)
	}
	switch js.Catchup {
	case "":
		js.Catchup = CatchupLatest
	case CatchupLatest, CatchupNone:
	default:
		d.errAt(at("catchup"), "latest runs once for the missed times, none waits for the next one",
			"%s.catchup: want latest or none, got %q", path, js.Catchup)
	}
	for key, v := range map[string]time.Duration{"timeout": js.Timeout, "retry_backoff": js.RetryBackoff, "jitter": js.Jitter} {
		if v < 0 {
			d.errAt(at(key), "", "%s.%s: must not be negative, got %v", path, key, v)
		}
	}
	if js.Schedule != "" {
		if sched, err := ParseSchedule(js.Schedule); err == nil {
			js.schedule = sched
		} else {
			d.errAt(at("schedule"), `e.g. "0 2 * * *", "@daily", "@every 15m", "CRON_TZ=Europe/Berlin 0 2 * * *"`,
				"%s.schedule: invalid cron expression: %v", path, err)
		}
	}
	if jy.Tests != nil {
		if _, isSeq := d.resolve(jy.Tests).(*ast.SequenceNode); !isSeq {
			d.typeErr(jy.Tests, path+".tests", "a list")
		}
	}
	if jy.Source != nil {
		if ses, ok := d.entries(jy.Source, path+".source"); ok {
			js.source = l.bound("source", jy.Source, ses, path+".source", keyTok(es, "source"), "source", sourceLookup)
		}
	}
	if jy.Steps != nil {
		l.steps(js, jy.Steps, path+".steps")
	}
	if jy.Targets != nil {
		l.targets(js, jy.Targets, path+".targets", keyTok(es, "targets"))
	}

	env := etl.BuildEnv{BaseDir: l.cfg.Dir, Logger: discardLogger, BatchSize: js.BatchSize, Clock: etl.SystemClock{}}
	for _, c := range js.components() {
		if c.conn != nil && l.faulty[c.conn] {
			d.componentConfig(c) // its own keys; the constructor would repeat the connection's errors
			continue
		}
		d.instantiate(c, env)
	}
}

// components lists the job's resolved components (unresolvable ones are
// nil and already reported).
func (js *JobSpec) components() []*component {
	var out []*component
	for _, c := range append(append([]*component{js.source}, js.steps...), js.targets...) {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

func keyTok(es []entry, key string) *token.Token {
	for _, e := range es {
		if e.key == key {
			return e.keyTok
		}
	}
	return nil
}

type lookupFunc func(key string) (config func() any, build func(any, etl.BuildEnv) (any, error), ok bool)

func sourceLookup(key string) (func() any, func(any, etl.BuildEnv) (any, error), bool) {
	s, ok := etl.LookupSource(key)
	return s.Config, func(cfg any, env etl.BuildEnv) (any, error) { return nilIfErr(s.New(cfg, env)) }, ok
}

func targetLookup(key string) (func() any, func(any, etl.BuildEnv) (any, error), bool) {
	s, ok := etl.LookupTarget(key)
	return s.Config, func(cfg any, env etl.BuildEnv) (any, error) { return nilIfErr(s.New(cfg, env)) }, ok
}

// nilIfErr turns a typed nil interface into an untyped nil.
func nilIfErr[T any](v T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if rv := reflect.ValueOf(v); !rv.IsValid() || (rv.Kind() == reflect.Pointer && rv.IsNil()) {
		return nil, nil
	}
	return v, nil
}

// bound resolves a source or target node: its type, optionally bound to a
// connection ("table" + a sqlite connection → "table/sqlite").
func (l *loader) bound(role string, node ast.Node, es []entry, path string, blame *token.Token, name string, lookup lookupFunc) *component {
	d := l.d
	var names []string
	if role == "source" {
		names = etl.SourceTypes()
	} else {
		names = etl.TargetTypes()
	}
	typEntry, connEntry, rest := l.splitType(es, true)
	if typEntry == nil {
		d.errAt(blame, choiceHint("", baseTypes(names), role+" types", ""), "%s: missing key type", path)
		return nil
	}
	typ, display, ok := l.name(typEntry, path)
	if !ok {
		return nil
	}
	var variants []string
	for _, n := range names {
		if base, connType, found := strings.Cut(n, "/"); found && base == typ {
			variants = append(variants, connType)
		}
	}
	_, _, plain := lookup(typ)

	var conn *etl.Connection
	key := typ
	if connEntry != nil {
		var connDisplay string
		if conn, connDisplay = l.namedConnection(connEntry, path); conn == nil {
			return nil
		}
		key = typ + "/" + conn.Type
		if _, _, ok := lookup(key); !ok {
			switch {
			case len(variants) > 0:
				d.errAt(posOf(connEntry.value), "supported connection types: "+strings.Join(variants, ", "),
					"%s: %s type %s cannot use connection %s of type %s", path, role, display, connDisplay, conn.Type)
			case plain:
				d.errAt(connEntry.keyTok, "remove the connection key", "%s: %s type %s takes no connection", path, role, display)
			default:
				l.unknownType(role, typ, display, typEntry, path, names)
			}
			return nil
		}
	} else if !plain {
		if len(variants) > 0 {
			d.errAt(posOf(typEntry.value), "add connection: NAME, naming a connection of type "+strings.Join(variants, " or "),
				"%s: %s type %s needs a connection", path, role, display)
		} else {
			l.unknownType(role, typ, display, typEntry, path, names)
		}
		return nil
	}
	config, build, _ := lookup(key)
	return &component{
		label:   path,
		kind:    role + " " + key,
		name:    name,
		node:    node,
		entries: rest,
		blame:   blame,
		config:  config,
		build:   build,
		conn:    conn,
	}
}

// namedConnection resolves a connection: NAME entry of the component at
// path; it reports an unknown name and returns nil. display is the name
// as it may be shown.
func (l *loader) namedConnection(connEntry *entry, path string) (conn *etl.Connection, display string) {
	connName, display, ok := l.name(connEntry, path)
	if !ok {
		return nil, display
	}
	if conn = l.cfg.Connections[connName]; conn != nil {
		return conn, display
	}
	if !l.broken[connName] {
		defined := make([]string, 0, len(l.cfg.Connections)+len(l.broken))
		for n := range l.cfg.Connections {
			defined = append(defined, n)
		}
		for n := range l.broken {
			defined = append(defined, n)
		}
		sort.Strings(defined)
		l.d.errAt(posOf(connEntry.value), choiceHint(connName, defined, "defined connections", "no connections are defined"),
			"%s.connection: unknown connection %s", path, display)
	}
	return nil, display
}

// takesConnection reports whether a step's config struct has a
// connection key: only then does connection: name a connection (for
// another step it may be a field named "connection").
func takesConnection(config func() any) bool {
	if config == nil {
		return false
	}
	t := reflect.TypeOf(config())
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return false
	}
	for _, f := range etl.ConfigKeys(t) {
		if f.Name == "connection" {
			return true
		}
	}
	return false
}

// stepConnection resolves the connection a step's config names with a
// connection: key (the lookup step reading a table), for its BuildEnv;
// the key stays in the config for the step to check. nil when the step
// names none, or an unknown one (reported).
func (l *loader) stepConnection(value ast.Node, path string) *etl.Connection {
	es, ok := l.d.fork().entries(l.d.resolve(value), path)
	if !ok {
		return nil
	}
	for i := range es {
		if es[i].key == "connection" {
			conn, _ := l.namedConnection(&es[i], path)
			return conn
		}
	}
	return nil
}

func (l *loader) unknownType(role, typ, display string, typEntry *entry, path string, names []string) {
	l.d.errAt(posOf(typEntry.value), choiceHint(typ, baseTypes(names), role+" types", "no "+role+" types are registered"),
		"%s: unknown %s type %s", path, role, display)
}

// baseTypes strips the "/<connection type>" of registered names.
func baseTypes(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		base, _, _ := strings.Cut(n, "/")
		if !seen[base] {
			seen[base] = true
			out = append(out, base)
		}
	}
	return out
}

func (l *loader) steps(js *JobSpec, node ast.Node, path string) {
	d := l.d
	seq, ok := d.resolve(node).(*ast.SequenceNode)
	if !ok {
		d.typeErr(node, path, "a list of steps")
		return
	}
	for i, item := range seq.Values {
		itemPath := fmt.Sprintf("%s[%d]", path, i)
		var kind string
		var kindTok *token.Token
		var value ast.Node
		switch n := d.resolve(item).(type) {
		case *ast.StringNode: // "- dedupe": a step with its defaults
			kind, kindTok = n.Value, n.Token
		default:
			es, ok := d.entries(n, itemPath)
			if !ok {
				continue
			}
			if len(es) != 1 {
				d.errAt(posOf(n), "write each step as its own list item: - kind: config",
					"%s: a step is a one-key mapping such as trim: [email], got %d keys", itemPath, len(es))
				continue
			}
			kind, kindTok, value = es[0].key, es[0].keyTok, es[0].value
		}
		spec, ok := etl.LookupStep(kind)
		if !ok {
			d.errAt(kindTok, choiceHint(kind, etl.StepKinds(), "step kinds", "no step kinds are registered"),
				"%s: unknown step kind %s", itemPath, kind)
			continue
		}
		var conn *etl.Connection
		if value != nil && takesConnection(spec.Config) {
			conn = l.stepConnection(value, joinPath(itemPath, kind))
		}
		js.steps = append(js.steps, &component{
			label:  joinPath(itemPath, kind),
			kind:   "step " + kind,
			name:   fmt.Sprintf("step %d %s", i+1, kind), // 1-based, as `preview --step N` takes it
			node:   value,
			isStep: true,
			blame:  kindTok,
			config: spec.Config,
			conn:   conn,
			build: func(cfg any, env etl.BuildEnv) (any, error) {
				return nilIfErr(spec.New(cfg, env))
			},
		})
	}
}

func (l *loader) targets(js *JobSpec, node ast.Node, path string, blame *token.Token) {
	d := l.d
	seq, ok := d.resolve(node).(*ast.SequenceNode)
	if !ok {
		d.typeErr(node, path, "a list of targets")
		return
	}
	if len(seq.Values) == 0 {
		d.errAt(blame, "", "%s: a job needs at least one target", path)
	}
	for i, item := range seq.Values {
		itemPath := fmt.Sprintf("%s[%d]", path, i)
		es, ok := d.entries(item, itemPath)
		if !ok {
			continue
		}
		// name: routes rows to this target (see the route step); it is
		// the job's business, not the target's config.
		route := ""
		for k := 0; k < len(es); k++ {
			if es[k].key != "name" {
				continue
			}
			text, _, ok := d.scalar(d.resolve(es[k].value))
			if !ok || text == "" || strings.ContainsAny(text, " \t") {
				d.errAt(posOf(d.resolve(es[k].value)), "a route name as in the route step, e.g. hot_leads", "%s.name: want a route name", itemPath)
			}
			route = text
			es = append(es[:k:k], es[k+1:]...)
			break
		}
		typEntry, connEntry, _ := l.splitType(es, true)
		name := fmt.Sprintf("targets[%d]", i)
		for _, e := range []*entry{typEntry, connEntry} {
			if e != nil {
				if text, _, ok := d.scalar(d.resolve(e.value)); ok {
					name += " " + text
				}
			}
		}
		if c := l.bound("target", item, es, itemPath, posOf(d.resolve(item)), name, targetLookup); c != nil {
			c.route = route
			js.targets = append(js.targets, c)
		}
	}
}

// Job returns the named job.
func (c *Config) Job(name string) (*JobSpec, bool) {
	for _, j := range c.Jobs {
		if j.Name == name {
			return j, true
		}
	}
	return nil, false
}

// JobNames lists the jobs in file order.
func (c *Config) JobNames() []string {
	out := make([]string, len(c.Jobs))
	for i, j := range c.Jobs {
		out[i] = j.Name
	}
	return out
}

func newRedactor(secrets []string) *strings.Replacer {
	uniq := map[string]bool{}
	var list []string
	for _, s := range secrets {
		if len(s) >= minSecretLen && !uniq[s] {
			uniq[s] = true
			list = append(list, s)
		}
	}
	if len(list) == 0 {
		return nil
	}
	// longest first, so a secret containing another is hidden whole
	sort.Slice(list, func(i, j int) bool {
		if len(list[i]) != len(list[j]) {
			return len(list[i]) > len(list[j])
		}
		return list[i] < list[j]
	})
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, "***")
	}
	return strings.NewReplacer(pairs...)
}

// Redact replaces in s every value that the config took from the
// environment through ${VAR} (values of at least 4 bytes; shorter ones are
// left, as hiding them would garble unrelated text) with "***". Use it on
// any text that may hold config values before printing or logging it.
func (c *Config) Redact(s string) string {
	if c == nil || c.redactor == nil {
		return s
	}
	return c.redactor.Replace(s)
}

// Build constructs fresh components (source, steps, targets) for one run
// of the named job. logger may be nil; clock, nil for the system clock, is
// the one its components read when not under the runner's (etl.BuildEnv).
// Its errors are config errors, marked etl.Permanent: building again cannot
// mend them.
func (c *Config) Build(name string, logger *slog.Logger, clock etl.Clock) (*etl.Job, error) {
	job, err := c.build(name, logger, etl.SystemClockOr(clock))
	if err != nil {
		return nil, etl.Permanent(fmt.Errorf("build job %s: %w", name, err))
	}
	return job, nil
}

func (c *Config) build(name string, logger *slog.Logger, clock etl.Clock) (*etl.Job, error) {
	js, ok := c.Job(name)
	if !ok {
		return nil, &Error{File: c.Path, Msg: "unknown job " + name,
			Hint: choiceHint(name, c.JobNames(), "jobs", "the config defines no jobs")}
	}
	if logger == nil {
		logger = discardLogger
	}
	d := c.dec.fork()
	env := etl.BuildEnv{BaseDir: c.Dir, Logger: logger.With("job", name), BatchSize: js.BatchSize, Clock: clock}
	job := &etl.Job{
		Name:           name,
		BatchSize:      js.BatchSize,
		MaxRejectRatio: js.OnReject.MaxRatio,
	}
	if js.source != nil {
		if v, ok := d.instantiate(js.source, env); ok {
			src, isSource := v.(etl.Source)
			if !isSource {
				d.errAt(js.source.blame, "", "%s: constructor returned %T, not a source", js.source.label, v)
			}
			job.Source = src
		}
	}
	for _, sc := range js.steps {
		if v, ok := d.instantiate(sc, env); ok {
			job.Steps = append(job.Steps, etl.NamedStep{Name: sc.name, Step: v.(etl.Step)})
		}
	}
	for _, tc := range js.targets {
		if v, ok := d.instantiate(tc, env); ok {
			job.Targets = append(job.Targets, etl.NamedTarget{Name: tc.name, Target: v.(etl.Target), Route: tc.route})
		}
	}
	if len(d.errs) > 0 {
		return nil, c.finish(d.errs)
	}
	if job.Source == nil || len(job.Targets) == 0 {
		return nil, errors.New("job has no source or no targets")
	}
	return job, nil
}
