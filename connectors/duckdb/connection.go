package duckdb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/internal/fsync"
)

// ConnConfig is a "duckdb" connection: one database file.
type ConnConfig struct {
	// Path is the database file, relative to the config file's directory;
	// it and its parent directories are created when missing.
	Path string `yaml:"path" doc:"the database file, relative to the config file's directory; it and its parent directories are created when missing"`
}

func init() {
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{
			Type:    "duckdb",
			Summary: "a DuckDB database file, created when missing",
			Example: "connections:\n  warehouse: { type: duckdb, path: out/warehouse.duckdb }\n",
			Config:  func() any { return &ConnConfig{} },
		},
		Validate: ValidateConnection,
	})
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "table/duckdb",
			Summary: "a DuckDB table: append (replays skipped), merge by key, or replace; rows go in through DuckDB's Appender",
			Example: "targets:\n  - { type: table, connection: warehouse, table: leads, mode: merge, key: [email] }\n",
			Config: func() any {
				return &TargetConfig{Mode: ModeAppend, Schema: SchemaEvolve, CommitRows: DefaultCommitRows}
			},
		},
		New: New,
	})
}

// ValidateConnection checks a decoded *ConnConfig; it does no I/O.
func ValidateConnection(cfg any, baseDir string) error {
	c, ok := cfg.(*ConnConfig)
	if !ok {
		return fmt.Errorf("duckdb connection: config is %T, want *ConnConfig", cfg)
	}
	if strings.TrimSpace(c.Path) == "" {
		return &etl.FieldError{Path: []string{"path"}, Err: errors.New("required: the database file, e.g. out/warehouse.duckdb")}
	}
	if c.Path == ":memory:" || strings.ContainsAny(c.Path, "?") || strings.Contains(c.Path, "://") || strings.HasPrefix(c.Path, "md:") {
		return &etl.FieldError{Path: []string{"path"}, Err: fmt.Errorf("%q: give a file path (an in-memory database is not shared between connections, and options or remote databases are not taken here)", c.Path)}
	}
	return nil
}

// connConfig returns the duckdb connection a component (what: "table",
// "source") is bound to, validated.
func connConfig(env etl.BuildEnv, what string) (*ConnConfig, error) {
	if env.Connection == nil {
		return nil, fmt.Errorf("duckdb %s: no connection", what)
	}
	c, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("duckdb %s: connection %q is %s, not duckdb", what, env.Connection.Name, env.Connection.Type)
	}
	if err := ValidateConnection(c, env.BaseDir); err != nil {
		return nil, fmt.Errorf("connection %q: %w", env.Connection.Name, err)
	}
	return c, nil
}

// resolvePath makes a connection's path absolute against baseDir: the
// driver shares one database instance per path within the process, and
// the writer key is the path.
func resolvePath(path, baseDir string) string {
	if !filepath.IsAbs(path) {
		path = filepath.Join(baseDir, path)
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// openDB opens (creating) the database file at path. Every open of one
// path in this process shares one DuckDB instance (the driver's instance
// cache): DuckDB lets one process write a file, and within it any number
// of connections. Another process holding the file is reported as such.
func openDB(ctx context.Context, path string, conns int) (*sqlx.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create directory of %s: %w", path, err)
	}
	if err := createAside(ctx, path); err != nil {
		return nil, err
	}
	db, err := sqlx.Open("duckdb", path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, explainLock(err))
	}
	db.SetMaxOpenConns(conns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, explainLock(err))
	}
	return db, nil
}

// creating serializes createAside within the process.
var creating sync.Mutex

// createAside makes the database file at path when it is missing, whole:
// DuckDB builds it under another name (path + ".creating"), and it is
// linked into place once closed and synced. A process killed while DuckDB
// wrote a new file's headers left a file neither it nor anyone else could
// open ("not a valid DuckDB database file"; the fault matrix found one);
// now it leaves no file, or a ".creating" one the next creation replaces.
func createAside(ctx context.Context, path string) error {
	creating.Lock()
	defer creating.Unlock()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or an error that opening it reports
	}
	tmp := path + ".creating"
	removeDB := func() {
		os.Remove(tmp)
		os.Remove(tmp + ".wal")
	}
	removeDB()
	db, err := sqlx.Open("duckdb", tmp)
	if err == nil {
		err = db.PingContext(ctx)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = fsync.Publish(tmp, path)
	}
	removeDB()
	if err != nil {
		return fmt.Errorf("create %s: %w", path, explainLock(err))
	}
	return nil
}

// openExisting opens path for components that only read from it: nil
// and no error when the file does not exist.
func openExisting(ctx context.Context, path string) (*sqlx.DB, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return openDB(ctx, path, 2)
}

// explainLock adds what to do to DuckDB's error for a file another process
// holds (the duckdb shell of an analyst, another nightjar).
func explainLock(err error) error {
	if err != nil && strings.Contains(err.Error(), "Could not set lock on file") {
		return fmt.Errorf("%w (another process has the database open: DuckDB lets one process write a file; close it, or read a copy)", err)
	}
	return err
}

// OpenDB opens the connection's existing database file (relative to
// baseDir) for components that only read from it, such as the lookup
// step: unlike a target, it does not create a missing file.
func (c *ConnConfig) OpenDB(ctx context.Context, baseDir string) (*sqlx.DB, error) {
	if err := ValidateConnection(c, baseDir); err != nil {
		return nil, err
	}
	path := resolvePath(c.Path, baseDir)
	db, err := openExisting(ctx, path)
	if err == nil && db == nil {
		err = fmt.Errorf("open %s: no such database file", path)
	}
	return db, err
}

// QuoteIdent quotes a name as this database does, for components that
// build their own queries on OpenDB (the lookup step).
func (c *ConnConfig) QuoteIdent(name string) (string, error) { return Dialect{}.QuoteIdent(name) }
