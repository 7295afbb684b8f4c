package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

func TestRegistered(t *testing.T) {
	t.Parallel()
	conn, ok := etl.LookupConnection("sqlite")
	if !ok {
		t.Fatal(`connection type "sqlite" not registered`)
	}
	if _, ok := conn.Config().(*ConnConfig); !ok {
		t.Errorf("connection config is %T", conn.Config())
	}
	target, ok := etl.LookupTarget("table/sqlite")
	if !ok {
		t.Fatal(`target type "table/sqlite" not registered`)
	}
	cfg, ok := target.Config().(*TargetConfig)
	if !ok {
		t.Fatalf("target config is %T", target.Config())
	}
	if diff := cmp.Diff(&TargetConfig{Mode: ModeAppend, Schema: SchemaEvolve}, cfg); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestValidateConnection(t *testing.T) {
	t.Parallel()
	if err := ValidateConnection(&ConnConfig{Path: "out/w.db"}, "/base"); err != nil {
		t.Errorf("valid path: %v", err)
	}
	for _, path := range []string{"", "  ", ":memory:", "file:x.db?mode=ro"} {
		err := ValidateConnection(&ConnConfig{Path: path}, "/base")
		var fe *etl.FieldError
		if !errors.As(err, &fe) || !cmp.Equal(fe.Path, []string{"path"}) {
			t.Errorf("path %q: err = %v, want a FieldError on path", path, err)
		}
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	conn := &etl.Connection{Name: "w", Type: "sqlite", Config: &ConnConfig{Path: "w.db"}}
	tests := []struct {
		name string
		cfg  TargetConfig
		key  string // the FieldError's path, "" for success
	}{
		{"append", TargetConfig{Table: "t", Mode: ModeAppend, Schema: SchemaEvolve}, ""},
		{"merge", TargetConfig{Table: "t", Mode: ModeMerge, Key: []string{"a", "b"}, Schema: SchemaStrict}, ""},
		{"no table", TargetConfig{Mode: ModeAppend, Schema: SchemaEvolve}, "table"},
		{"table with NUL", TargetConfig{Table: "a\x00b", Mode: ModeAppend, Schema: SchemaEvolve}, "table"},
		{"marker table", TargetConfig{Table: "_NIGHTJAR_batches", Mode: ModeAppend, Schema: SchemaEvolve}, "table"},
		{"bad mode", TargetConfig{Table: "t", Mode: "upsert", Schema: SchemaEvolve}, "mode"},
		{"merge without key", TargetConfig{Table: "t", Mode: ModeMerge, Schema: SchemaEvolve}, "key"},
		{"duplicate key", TargetConfig{Table: "t", Mode: ModeMerge, Key: []string{"a", "A"}, Schema: SchemaEvolve}, "key"},
		{"key with append", TargetConfig{Table: "t", Mode: ModeAppend, Key: []string{"a"}, Schema: SchemaEvolve}, "key"},
		{"bad schema", TargetConfig{Table: "t", Mode: ModeAppend, Schema: "loose"}, "schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg, err := New(&tt.cfg, etl.BuildEnv{BaseDir: "/base", Connection: conn})
			if tt.key == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if got := tg.(*Target).backend.path; got != filepath.Join("/base", "w.db") {
					t.Errorf("path = %q, want it relative to BaseDir", got)
				}
				return
			}
			var fe *etl.FieldError
			if !errors.As(err, &fe) || !cmp.Equal(fe.Path, []string{tt.key}) {
				t.Errorf("err = %v, want a FieldError on %q", err, tt.key)
			}
		})
	}
}

func TestNewNeedsSqliteConnection(t *testing.T) {
	t.Parallel()
	cfg := &TargetConfig{Table: "t", Mode: ModeAppend, Schema: SchemaEvolve}
	if _, err := New(cfg, etl.BuildEnv{}); err == nil {
		t.Error("New without a connection succeeded")
	}
	other := &etl.Connection{Name: "pg", Type: "postgres", Config: struct{ DSN string }{}}
	if _, err := New(cfg, etl.BuildEnv{Connection: other}); err == nil {
		t.Error("New with a postgres connection succeeded")
	}
}

func TestDSNEscapesPath(t *testing.T) {
	t.Parallel()
	got := dsn("/data/a?b#c%d.db")
	want := "file:/data/a%3fb%23c%25d.db?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_txlock=immediate&_stmt_cache_size=16"
	if got != want {
		t.Errorf("dsn = %q, want %q", got, want)
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := &TargetConfig{Table: "t", Mode: ModeAppend, Schema: SchemaEvolve}
	tg, err := New(cfg, etl.BuildEnv{BaseDir: dir, Connection: &etl.Connection{
		Name: "w", Type: "sqlite", Config: &ConnConfig{Path: "sub dir/a?b#c%20.db"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Open(t.Context(), etl.TargetEnv{Job: "j", Name: "t"}); err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if _, err := os.Stat(filepath.Join(dir, "sub dir", "a?b#c%20.db")); err != nil {
		t.Errorf("database not at the configured path: %v", err)
	}
}
