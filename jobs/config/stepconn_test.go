package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
)

// tableLookupConfig is a step config with a connection key, as the lookup
// step's.
type tableLookupConfig struct {
	Connection string `yaml:"connection"`
	Table      string `yaml:"table"`
}

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{Type: "testlookup", Config: func() any { return &tableLookupConfig{} }},
		New: func(cfg any, env etl.BuildEnv) (etl.Step, error) {
			return &fakeStep{cfg: cfg, env: env}, nil
		},
	})
}

func loadString(t *testing.T, src string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nightjar.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return load(path, mapLookup(nil))
}

func TestStepConnection(t *testing.T) {
	const head = `connections:
  warehouse: { type: testdb, dsn: "test:x" }
jobs:
  j:
    source: { type: testsrc, path: a.csv }
    targets: [{ type: testfile, path: out.csv }]
    steps:
`
	t.Run("resolved into BuildEnv", func(t *testing.T) {
		cfg, err := loadString(t, head+`      - testlookup: { connection: warehouse, table: customers }
      - testrename: { connection: conn_id }
`)
		if err != nil {
			t.Fatal(err)
		}
		job, err := cfg.Build("j", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		lookup := job.Steps[0].Step.(*fakeStep)
		if lookup.env.Connection != cfg.Connections["warehouse"] || lookup.env.Connection == nil {
			t.Errorf("lookup step connection = %+v, want warehouse", lookup.env.Connection)
		}
		if c := lookup.cfg.(*tableLookupConfig); c.Connection != "warehouse" || c.Table != "customers" {
			t.Errorf("lookup config = %+v", c)
		}
		// A step without a connection key may have a field so named.
		rename := job.Steps[1].Step.(*fakeStep)
		if rename.env.Connection != nil || (*rename.cfg.(*map[string]string))["connection"] != "conn_id" {
			t.Errorf("rename: connection %+v, config %v", rename.env.Connection, rename.cfg)
		}
	})
	t.Run("unknown connection", func(t *testing.T) {
		_, err := loadString(t, head+`      - testlookup: { connection: warehous, table: customers }
`)
		want := "nightjar.yaml:8:35: jobs.j.steps[0].testlookup.connection: unknown connection warehous (did you mean warehouse?)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want %q", err, want)
		}
	})
}
