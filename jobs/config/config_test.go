package config

import (
	"bufio"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*/want_err.txt")

// readEnv reads a case's env file: KEY=VALUE lines.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	env := map[string]string{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return env
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

func mapLookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// TestGolden loads testdata/<case>/nightjar.yaml with the environment of
// testdata/<case>/env and compares the errors with want_err.txt (empty for
// a valid config). It also checks that no environment value is printed.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/nightjar.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, cfgPath := range dirs {
		dir := filepath.Dir(cfgPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			env := readEnv(t, filepath.Join(abs, "env"))
			t.Chdir(abs)
			_, err = load("nightjar.yaml", mapLookup(env))
			got := ""
			if err != nil {
				var errs Errors
				if !errors.As(err, &errs) {
					t.Fatalf("error is %T, want Errors: %v", err, err)
				}
				got = errs.Error() + "\n"
			}
			for k, v := range env {
				if len(v) >= minSecretLen && strings.Contains(got, v) {
					t.Errorf("errors print the value of %s:\n%s", k, got)
				}
			}
			wantPath := filepath.Join(abs, "want_err.txt")
			if *update {
				if err := os.WriteFile(wantPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("errors differ (-want +got):\n%s", diff)
			}
		})
	}
}

func loadValid(t *testing.T) *Config {
	t.Helper()
	cfg, err := load(filepath.Join("testdata", "valid", "nightjar.yaml"),
		mapLookup(map[string]string{"WAREHOUSE_PASSWORD": "hunter2-very-secret"}))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return cfg
}

func TestLoadValid(t *testing.T) {
	cfg := loadValid(t)
	dir, err := filepath.Abs(filepath.Join("testdata", "valid"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != filepath.Join(dir, "nightjar.yaml") || cfg.Dir != dir {
		t.Errorf("Path, Dir = %q, %q; want under %q", cfg.Path, cfg.Dir, dir)
	}
	if want := filepath.Join(dir, "var", "state.db"); cfg.State != want {
		t.Errorf("State = %q, want %q", cfg.State, want)
	}
	if diff := cmp.Diff([]string{"leads", "orders", "nightly"}, cfg.JobNames()); diff != "" {
		t.Errorf("JobNames (-want +got):\n%s", diff)
	}

	leads, ok := cfg.Job("leads")
	if !ok {
		t.Fatal("no job leads")
	}
	got := map[string]any{
		"Description": leads.Description, "Schedule": leads.Schedule, "BatchSize": leads.BatchSize,
		"MaxRatio": leads.OnReject.MaxRatio, "Timeout": leads.Timeout.String(), "Retries": leads.Retries,
		"RetryBackoff": leads.RetryBackoff.String(), "Catchup": leads.Catchup, "Jitter": leads.Jitter.String(),
		"Line": leads.Line,
	}
	want := map[string]any{
		"Description": "Leads from the CRM export", "Schedule": "CRON_TZ=Europe/Berlin 0 2 * * *", "BatchSize": 500,
		"MaxRatio": 0.05, "Timeout": "1h30m0s", "Retries": 3,
		"RetryBackoff": "10s", "Catchup": CatchupLatest, "Jitter": "5s",
		"Line": 12,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("job leads (-want +got):\n%s", diff)
	}
	if orders, _ := cfg.Job("orders"); orders.BatchSize != 10_000 {
		t.Errorf("orders.BatchSize = %d, want the default 10000", orders.BatchSize)
	}
	if _, ok := cfg.Job("nope"); ok {
		t.Error("Job(nope) found a job")
	}

	wh := cfg.Connections["warehouse"]
	if wh == nil || wh.Type != "testdb" {
		t.Fatalf("connection warehouse = %+v", wh)
	}
	if diff := cmp.Diff(&testdbConfig{DSN: "test:hunter2-very-secret@db", Pool: poolConfig{Max: 8}}, wh.Config); diff != "" {
		t.Errorf("warehouse config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&apiConfig{Token: "dev-token"}, cfg.Connections["api"].Config); diff != "" {
		t.Errorf("api config (-want +got):\n%s", diff)
	}
}

func TestBuild(t *testing.T) {
	cfg := loadValid(t)
	job, err := cfg.Build("leads", nil, nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if job.Name != "leads" || job.BatchSize != 500 || job.MaxRejectRatio != 0.05 {
		t.Errorf("job = %q batch %d ratio %v", job.Name, job.BatchSize, job.MaxRejectRatio)
	}

	src := job.Source.(*fakeSource)
	watch := true
	wantSrc := &srcConfig{
		Path:    "inbox/*.csv",
		Format:  "csv",                                     // default kept
		CSV:     csvOptions{Delimiter: ";", Header: false}, // from the merged anchor, header overridden
		Columns: []string{"email", "name"},
		Limit:   100,
		Settle:  30_000_000_000,
		Watch:   &watch,
		Extra:   map[string]any{"a": []any{uint64(1), "two"}, "b": nil},
	}
	if diff := cmp.Diff(wantSrc, src.cfg); diff != "" {
		t.Errorf("source config (-want +got):\n%s", diff)
	}
	if src.env.BaseDir != cfg.Dir || src.env.Connection != nil || src.env.Logger == nil {
		t.Errorf("source env = %+v", src.env)
	}

	var stepNames []string
	stepCfgs := map[string]any{}
	for _, s := range job.Steps {
		stepNames = append(stepNames, s.Name)
		fs := s.Step.(*fakeStep)
		if fs.env.StepName != s.Name {
			t.Errorf("step %s built with StepName %q", s.Name, fs.env.StepName)
		}
		stepCfgs[s.Name] = fs.cfg
	}
	wantNames := []string{"step 1 testrename", "step 2 testtrim", "step 3 testfilter",
		"step 4 testset", "step 5 testdedupe", "step 6 testnoop"}
	if diff := cmp.Diff(wantNames, stepNames); diff != "" {
		t.Errorf("step names (-want +got):\n%s", diff)
	}
	filter := `name != "$spam"`
	wantCfgs := map[string]any{
		"step 1 testrename": &map[string]string{"E-Mail Address": "email"},
		"step 2 testtrim":   &[]string{"email", "name"},
		"step 3 testfilter": &filter,
		"step 4 testset":    &map[string]string{"tier": "score >= 80"},
		"step 5 testdedupe": &dedupeConfig{Key: []string{"email"}, Keep: "last"},
		"step 6 testnoop":   nil,
	}
	if diff := cmp.Diff(wantCfgs, stepCfgs); diff != "" {
		t.Errorf("step configs (-want +got):\n%s", diff)
	}

	if len(job.Targets) != 2 {
		t.Fatalf("%d targets, want 2", len(job.Targets))
	}
	if n := job.Targets[0].Name; n != "targets[0] table warehouse" {
		t.Errorf("target 0 name %q", n)
	}
	table := job.Targets[0].Target.(*fakeTarget)
	if table.env.Connection != cfg.Connections["warehouse"] {
		t.Errorf("table target connection = %+v", table.env.Connection)
	}
	if diff := cmp.Diff(&tableConfig{Table: "leads", Mode: "merge", Key: []string{"email"}}, table.cfg); diff != "" {
		t.Errorf("table config (-want +got):\n%s", diff)
	}
	file := job.Targets[1].Target.(*fakeTarget)
	if diff := cmp.Diff(&fileTargetConfig{Path: "out/leads.csv", Format: "csv"}, file.cfg); diff != "" {
		t.Errorf("file config (-want +got):\n%s", diff)
	}

	// Each Build makes fresh components with fresh configs.
	again, err := cfg.Build("leads", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Source == job.Source || again.Source.(*fakeSource).cfg == src.cfg ||
		again.Targets[0].Target == job.Targets[0].Target {
		t.Error("Build reused components or configs")
	}

	orders, err := cfg.Build("orders", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := orders.Source.(*fakeSource).env.Connection; c == nil || c.Name != "warehouse" {
		t.Errorf("sql source connection = %+v", c)
	}
	if diff := cmp.Diff(&sqlSrcConfig{Query: "select 1"}, orders.Source.(*fakeSource).cfg); diff != "" {
		t.Errorf("sql source config (-want +got):\n%s", diff)
	}

	_, err = cfg.Build("leadz", nil, nil)
	var e *Error
	if !errors.As(err, &e) || e.Hint != "did you mean leads?" {
		t.Errorf("Build(leadz) = %v, want an unknown job error with a hint", err)
	}
}

func TestLoadFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nightjar.yaml")
	src := `state: /var/lib/nightjar/state.db
connections:
  db: { type: testdb, dsn: "test:${NIGHTJAR_TEST_PW}" }
jobs:
  j:
    source: { type: testsrc, path: "fail:${NIGHTJAR_TEST_PW}" }
    targets: [{ type: table, connection: db, table: "${NIGHTJAR_TEST_TABLE:-t}", mode: "${NIGHTJAR_TEST_PW}" }]
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "pa55-w0rd-xyz"
	t.Setenv("NIGHTJAR_TEST_PW", secret)
	t.Setenv("NIGHTJAR_TEST_TABLE", "")
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load succeeded; want the constructor errors")
	}
	msg := err.Error()
	if strings.Contains(msg, secret) {
		t.Errorf("errors print the secret:\n%s", msg)
	}
	wantLines := []string{
		path + ":6:5: jobs.j.source: cannot use path fail:***",
		path + `:7:82: jobs.j.targets[0].mode: want append, replace or merge, got "***"`,
	}
	if diff := cmp.Diff(strings.Join(wantLines, "\n"), msg); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	// The same file, valid: secrets are redacted, short values are not.
	src = strings.Replace(src, "fail:", "", 1)
	src = strings.Replace(src, `mode: "${NIGHTJAR_TEST_PW}"`, `mode: merge, key: ["${NIGHTJAR_TEST_KEY}"]`, 1)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NIGHTJAR_TEST_KEY", "id")
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.State != "/var/lib/nightjar/state.db" {
		t.Errorf("State = %q", cfg.State)
	}
	job, err := cfg.Build("j", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&tableConfig{Table: "t", Mode: "merge", Key: []string{"id"}}, job.Targets[0].Target.(*fakeTarget).cfg); diff != "" {
		t.Errorf("table config (-want +got):\n%s", diff)
	}
	in := "connect test:" + secret + " failed; id=" + secret + "x"
	if got, want := cfg.Redact(in), "connect test:*** failed; id=***x"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
	if got := cfg.Redact("id is short"); got != "id is short" {
		t.Errorf("Redact hid a short value: %q", got)
	}
}

func TestRedactLongestFirst(t *testing.T) {
	c := &Config{redactor: newRedactor([]string{"abcd", "abcdefgh", "abc"})}
	if got, want := c.Redact("abcdefgh abcd abc"), "*** *** abc"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
}

func TestLoadFileProblems(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.yaml")
	_, err := Load(missing)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Line != 0 ||
		!strings.HasPrefix(err.Error(), missing+": read config: ") {
		t.Errorf("missing file: %v", err)
	}

	cases := map[string]string{
		"empty.yaml":  "config is empty: it needs a jobs section",
		"scalar.yaml": "1:1: want a mapping, got \"hello\"",
		"two.yaml":    "3:1: a second YAML document is not allowed (keep one document per config file)",
		"nojobs.yaml": "nojobs.yaml: missing key jobs",
	}
	contents := map[string]string{
		"empty.yaml":  "# nothing\n",
		"scalar.yaml": "hello\n",
		"two.yaml":    "jobs: {}\n---\njobs: {}\n",
		"nojobs.yaml": "state: x.db\n",
	}
	for name, want := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(contents[name]), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, want)
		}
	}
}

func TestExpandString(t *testing.T) {
	env := map[string]string{"HOST": "db.example", "EMPTY": "", "PW": "secret"}
	tests := []struct {
		in, want    string
		secrets     []string
		substituted bool
		problems    []string
	}{
		{in: "plain", want: "plain"},
		{in: "a$b $ c$", want: "a$b $ c$"},
		{in: "price $$5", want: "price $5"},
		{in: "$${HOST}", want: "${HOST}"},
		{in: "${HOST}:5432", want: "db.example:5432", secrets: []string{"db.example"}, substituted: true},
		{in: "${PW}${PW}", want: "secretsecret", secrets: []string{"secret", "secret"}, substituted: true},
		{in: "${NOPE:-fallback}", want: "fallback", substituted: true},
		{in: "${EMPTY:-fallback}", want: "fallback", substituted: true},
		{in: "${EMPTY}", want: "", substituted: true},
		{in: "${NOPE:-}", want: "", substituted: true},
		{in: "x${NOPE}y", want: "xy", substituted: true, problems: []string{"environment variable NOPE is not set"}},
		{in: "${A-B}", want: "", substituted: true, problems: []string{`invalid environment variable name "A-B" in ${A-B}`}},
		{in: "${HOST", want: "${HOST", problems: []string{"unterminated ${ in value"}},
	}
	for _, tt := range tests {
		got, substituted, secrets, problems := expandString(tt.in, mapLookup(env))
		var msgs []string
		for _, p := range problems {
			msgs = append(msgs, p.msg)
		}
		if got != tt.want || substituted != tt.substituted || !cmp.Equal(secrets, tt.secrets) || !cmp.Equal(msgs, tt.problems) {
			t.Errorf("expandString(%q) = %q, %v, %q, %q; want %q, %v, %q, %q",
				tt.in, got, substituted, secrets, msgs, tt.want, tt.substituted, tt.secrets, tt.problems)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"state", "connections", "jobs"}
	tests := map[string]string{
		"jobz":       "jobs",
		"Jobs":       "jobs",
		"conections": "connections",
		"stat":       "state",
		"xyz":        "",
		"j":          "",
		"targets":    "",
		"partitions": "",
	}
	for word, want := range tests {
		if got := suggest(word, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
	if got := suggest("shcedule", []string{"schedule", "source"}); got != "schedule" {
		t.Errorf("transposition: got %q", got)
	}
}

func TestParseSchedule(t *testing.T) {
	for _, ok := range []string{
		"0 2 * * *", "30 0 2 * * *", "@daily", "@every 15m", "CRON_TZ=Europe/Berlin 0 2 * * *",
		"TZ=UTC @hourly", "*/5 * * * MON-FRI",
	} {
		if _, err := ParseSchedule(ok); err != nil {
			t.Errorf("ParseSchedule(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0 2 * *", "@fortnightly", "@every soon", "CRON_TZ=Nowhere/Land 0 2 * * *", "61 * * * *",
		"TZ=", "CRON_TZ=Europe/Berlin"} { // the last two panicked in robfig/cron
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) succeeded", bad)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	errs := Errors{
		{File: "c.yaml", Line: 9, Col: 2, Msg: "late"},
		{File: "c.yaml", Line: 3, Col: 7, Msg: "unknown key jobz", Hint: "did you mean jobs?"},
		{File: "c.yaml", Line: 3, Col: 1, Msg: "first"},
		{File: "c.yaml", Msg: "no position"},
	}
	errs.sort()
	want := "c.yaml: no position\n" +
		"c.yaml:3:1: first\n" +
		"c.yaml:3:7: unknown key jobz (did you mean jobs?)\n" +
		"c.yaml:9:2: late"
	if diff := cmp.Diff(want, errs.Error()); diff != "" {
		t.Errorf("Errors.Error (-want +got):\n%s", diff)
	}
	var e *Error
	if !errors.As(error(errs), &e) || e.Msg != "no position" {
		t.Errorf("errors.As found %v", e)
	}
}

func TestBuildConcurrently(t *testing.T) {
	cfg := loadValid(t)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := cfg.Build("leads", nil, nil)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestJobNext(t *testing.T) {
	cfg := loadValid(t)
	now := time.Date(2025, 3, 10, 12, 7, 0, 0, time.UTC)
	tests := map[string]time.Time{
		"leads":   time.Date(2025, 3, 11, 1, 0, 0, 0, time.UTC), // 02:00 Berlin = 01:00 UTC in winter
		"orders":  now.Add(15 * time.Minute),
		"nightly": time.Date(2025, 3, 11, 1, 30, 0, 0, time.UTC), // seconds field: 0 30 1 * * *
	}
	for name, want := range tests {
		js, _ := cfg.Job(name)
		got, ok := js.Next(now)
		if !ok || !got.Equal(want) {
			t.Errorf("%s.Next(%v) = %v, %v; want %v", name, now, got, ok, want)
		}
	}
	if _, ok := (&JobSpec{}).Next(now); ok {
		t.Error("Next of a job without schedule reported a time")
	}
}

// TestOnRejectDefault: a job without on_reject fails above
// DefaultMaxRejectRatio; max_ratio: 0 turns the limit off; a given ratio
// is kept, also when on_reject has no max_ratio.
func TestOnRejectDefault(t *testing.T) {
	for _, tc := range []struct {
		onReject string
		want     float64
	}{
		{"", DefaultMaxRejectRatio},
		{"    on_reject: {}\n", DefaultMaxRejectRatio},
		{"    on_reject: { max_ratio: 0 }\n", 0},
		{"    on_reject: { max_ratio: 0.5 }\n", 0.5},
	} {
		cfg, err := loadString(t, "jobs:\n  j:\n    source: { type: testsrc, path: a.csv }\n    targets: [{ type: testfile, path: out.csv }]\n"+tc.onReject)
		if err != nil {
			t.Fatalf("%q: %v", tc.onReject, err)
		}
		j, _ := cfg.Job("j")
		if j.OnReject.MaxRatio != tc.want {
			t.Errorf("%q: max_ratio %v, want %v", tc.onReject, j.OnReject.MaxRatio, tc.want)
		}
	}
}
