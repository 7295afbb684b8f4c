package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// ConnConfig is a "postgres" connection.
type ConnConfig struct {
	// DSN is a PostgreSQL URL or key=value string (libpq's syntax), usually
	// from the environment: dsn: "${WAREHOUSE_DSN}".
	DSN string `yaml:"dsn" doc:"a PostgreSQL URL or key=value string (libpq's syntax), usually from the environment" secret:"true"`
	// StatementTimeout cancels a statement running longer (the server's
	// statement_timeout); 0 leaves the server's setting.
	StatementTimeout time.Duration `yaml:"statement_timeout" doc:"cancels a statement running longer (the server's statement_timeout); 0 leaves the server's setting"`
	// MaxConns caps the connections a source or target opens; default 4.
	MaxConns int `yaml:"max_conns" doc:"caps the connections a source or target opens; default 4"`
	// ConnectTimeout bounds connecting, handshake included: a server that
	// accepts and never answers fails the run instead of hanging it.
	// Default 10s (sqlconn.DefaultConnectTimeout), or the DSN's own.
	ConnectTimeout time.Duration `yaml:"connect_timeout" doc:"bounds connecting, handshake included: a server that accepts and never answers fails the run instead of hanging it"`
}

func init() {
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{
			Type:    "postgres",
			Summary: "a PostgreSQL database, reached through pgx",
			Example: "connections:\n  pg: { type: postgres, dsn: \"${WAREHOUSE_DSN}\", statement_timeout: 10m }\n",
			Config:  func() any { return &ConnConfig{} },
		},
		Validate: ValidateConnection,
	})
}

// ValidateConnection checks a decoded *ConnConfig; it parses the DSN but
// does no I/O.
func ValidateConnection(cfg any, _ string) error {
	c, ok := cfg.(*ConnConfig)
	if !ok {
		return fmt.Errorf("postgres connection: config is %T, want *ConnConfig", cfg)
	}
	_, err := c.pgxConfig()
	return err
}

// pgxConfig parses the DSN. Its parse error is not passed on: it may quote
// the DSN, password included.
func (c *ConnConfig) pgxConfig() (*pgx.ConnConfig, error) {
	if strings.TrimSpace(c.DSN) == "" {
		return nil, &etl.FieldError{Path: []string{"dsn"}, Err: errors.New("required: a PostgreSQL URL, e.g. postgres://user@host:5432/db?sslmode=disable")}
	}
	cfg, err := pgx.ParseConfig(c.DSN)
	if err != nil {
		return nil, &etl.FieldError{Path: []string{"dsn"}, Err: errors.New("not a valid PostgreSQL URL or key=value connection string (the value is not shown: it may hold a password)")}
	}
	if c.StatementTimeout < 0 {
		return nil, &etl.FieldError{Path: []string{"statement_timeout"}, Err: errors.New("must not be negative")}
	}
	if c.MaxConns < 0 {
		return nil, &etl.FieldError{Path: []string{"max_conns"}, Err: errors.New("must not be negative")}
	}
	if c.ConnectTimeout < 0 {
		return nil, &etl.FieldError{Path: []string{"connect_timeout"}, Err: errors.New("must not be negative")}
	}
	return cfg, nil
}

// connConfig returns the connection's config from a component's BuildEnv.
func connConfig(env etl.BuildEnv, what string) (*ConnConfig, error) {
	if env.Connection == nil {
		return nil, fmt.Errorf("postgres %s: no connection", what)
	}
	c, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("postgres %s: connection %q is %s, not postgres", what, env.Connection.Name, env.Connection.Type)
	}
	if err := ValidateConnection(c, env.BaseDir); err != nil {
		return nil, fmt.Errorf("connection %q: %w", env.Connection.Name, err)
	}
	return c, nil
}

// open opens a pool of at most MaxConns connections whose search_path is
// schema (when set), and checks that the server answers.
func (c *ConnConfig) open(ctx context.Context, schema string) (*sqlx.DB, error) {
	cfg, err := c.pgxConfig()
	if err != nil {
		return nil, err
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "nightjar"
	}
	if schema != "" {
		q, err := Dialect{}.QuoteIdent(schema)
		if err != nil {
			return nil, err
		}
		cfg.RuntimeParams["search_path"] = q
	}
	if c.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(c.StatementTimeout.Milliseconds(), 10)
	}
	timeout := sqlconn.ConnectTimeout(c.ConnectTimeout, cfg.ConnectTimeout)
	cfg.ConnectTimeout = timeout
	db := sqlx.NewDb(stdlib.OpenDB(*cfg), "pgx")
	maxConns := c.MaxConns
	if maxConns == 0 {
		maxConns = 4
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlconn.Ping(ctx, db, timeout); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
