package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestStateKey(t *testing.T) {
	t.Parallel()
	const jobsYAML = `
jobs:
  j:
    source: { type: testsrc, path: a.csv }
    targets: [{ type: testfile, path: out.csv }]
`
	tests := []struct {
		name, state               string
		wantType, wantState       string // wantState "" means <dir>/.nightjar/state.db
		wantSchema, wantErrSubstr string
	}{
		{name: "default", wantType: StateSQLite},
		{name: "path", state: `state: var/s.db`, wantType: StateSQLite, wantState: "var/s.db"},
		{name: "url", state: `state: postgres://u@db:5432/n`, wantType: StatePostgres, wantState: "postgres://u@db:5432/n"},
		{name: "postgresql url", state: `state: "postgresql://u@db/n"`, wantType: StatePostgres, wantState: "postgresql://u@db/n"},
		{name: "mapping", state: `state: {type: postgres, dsn: "host=db user=u", schema: etl}`,
			wantType: StatePostgres, wantState: "host=db user=u", wantSchema: "etl"},
		{name: "sqlite mapping", state: `state: {type: sqlite, path: s.db}`, wantType: StateSQLite, wantState: "s.db"},
		{name: "no dsn", state: `state: {type: postgres}`, wantErrSubstr: "needs dsn"},
		{name: "unknown type", state: `state: {type: mongo, dsn: x}`, wantErrSubstr: `type "mongo" is not a state store`},
		{name: "unknown key", state: `state: {type: postgres, dsn: x, shema: y}`, wantErrSubstr: "shema"},
		{name: "schema for sqlite", state: `state: {path: s.db, schema: y}`, wantErrSubstr: "are for type postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadString(t, tt.state+jobsYAML)
			if tt.wantErrSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) {
					t.Fatalf("Load error = %v, want one containing %q", err, tt.wantErrSubstr)
				}
				if !strings.Contains(err.Error(), "nightjar.yaml:1:") {
					t.Errorf("error %q does not name the file and line", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := tt.wantState
			switch {
			case want == "":
				want = filepath.Join(cfg.Dir, ".nightjar", "state.db")
			case tt.wantType == StateSQLite:
				want = filepath.Join(cfg.Dir, want)
			}
			if cfg.StateType != tt.wantType || cfg.State != want || cfg.StateSchema != tt.wantSchema {
				t.Errorf("state = %s %q schema %q, want %s %q schema %q", cfg.StateType, cfg.State, cfg.StateSchema, tt.wantType, want, tt.wantSchema)
			}
		})
	}
}
