package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/nightjar-etl/nightjar/etl"
)

// ConnConfig is a "sqlite" connection: one database file.
type ConnConfig struct {
	// Path is the database file, relative to the config file's directory;
	// it and its parent directories are created when missing.
	Path string `yaml:"path" doc:"the database file, relative to the config file's directory; it and its parent directories are created when missing"`
}

func init() {
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{
			Type:    "sqlite",
			Summary: "a SQLite database file, created when missing",
			Example: "connections:\n  warehouse: { type: sqlite, path: out/warehouse.db }\n",
			Config:  func() any { return &ConnConfig{} },
		},
		Validate: ValidateConnection,
	})
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "table/sqlite",
			Summary: "a SQLite table: append (replays skipped), merge by key, or replace",
			Example: "targets:\n  - { type: table, connection: warehouse, table: leads, mode: merge, key: [email] }\n",
			Config:  func() any { return &TargetConfig{Mode: ModeAppend, Schema: SchemaEvolve} },
		},
		New: New,
	})
}

// ValidateConnection checks a decoded *ConnConfig; it does no I/O.
func ValidateConnection(cfg any, baseDir string) error {
	c, ok := cfg.(*ConnConfig)
	if !ok {
		return fmt.Errorf("sqlite connection: config is %T, want *ConnConfig", cfg)
	}
	if strings.TrimSpace(c.Path) == "" {
		return &etl.FieldError{Path: []string{"path"}, Err: errors.New("required: the database file, e.g. out/warehouse.db")}
	}
	if c.Path == ":memory:" || strings.HasPrefix(c.Path, "file:") {
		return &etl.FieldError{Path: []string{"path"}, Err: fmt.Errorf("%q: give a file path (an in-memory or URI database is not shared between connections)", c.Path)}
	}
	return nil
}

// connConfig returns the sqlite connection a component (what: "table",
// "source") is bound to, validated.
func connConfig(env etl.BuildEnv, what string) (*ConnConfig, error) {
	if env.Connection == nil {
		return nil, fmt.Errorf("sqlite %s: no connection", what)
	}
	c, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("sqlite %s: connection %q is %s, not sqlite", what, env.Connection.Name, env.Connection.Type)
	}
	if err := ValidateConnection(c, env.BaseDir); err != nil {
		return nil, fmt.Errorf("connection %q: %w", env.Connection.Name, err)
	}
	return c, nil
}

// resolvePath makes a connection's path absolute against baseDir.
func resolvePath(path, baseDir string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(baseDir, path)
}

// dsn is a file: URI for go-sqlite3: WAL so readers never block the
// writer; synchronous=NORMAL, durable in WAL mode at each checkpoint and
// safe against corruption; a busy timeout instead of immediate "database is
// locked"; BEGIN IMMEDIATE so a write transaction takes the write lock up
// front instead of failing at its first write; a per-connection cache of
// compiled statements, so that the INSERT a target prepares in each batch's
// transaction is compiled once.
func dsn(path string) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	return "file:" + escaped + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_txlock=immediate&_stmt_cache_size=16"
}

// openDB opens (creating) the database file at path.
func openDB(ctx context.Context, path string) (*sqlx.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create directory of %s: %w", path, err)
	}
	db, err := sqlx.Open("sqlite3", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One connection: a target is a single writer, and its prepared
	// statements then stay on the connection they were prepared on.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
