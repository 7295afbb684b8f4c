package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// ConnConfig is a "mysql" connection (MySQL or MariaDB).
type ConnConfig struct {
	// DSN is a go-sql-driver DSN, user:password@tcp(host:3306)/db,
	// usually from the environment: dsn: "${MYSQL_DSN}".
	DSN string `yaml:"dsn" doc:"a go-sql-driver DSN, user:password@tcp(host:3306)/db, usually from the environment" secret:"true"`
	// StatementTimeout cancels a statement running longer (MariaDB's
	// max_statement_time); 0 leaves the server's setting.
	StatementTimeout time.Duration `yaml:"statement_timeout" doc:"cancels a statement running longer (MariaDB's max_statement_time); 0 leaves the server's setting"`
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
			Type:    "mysql",
			Summary: "a MySQL or MariaDB database, reached through go-sql-driver/mysql",
			Example: "connections:\n  mysql: { type: mysql, dsn: \"${MYSQL_DSN}\" }\n",
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
		return fmt.Errorf("mysql connection: config is %T, want *ConnConfig", cfg)
	}
	_, err := c.driverConfig("")
	return err
}

// driverConfig parses the DSN and sets what nightjar relies on: times in
// UTC read as time.Time, utf8mb4, placeholders interpolated client-side
// (one round trip per statement), and database as the default database
// when set. The parse error is not passed on: it may quote the DSN.
func (c *ConnConfig) driverConfig(database string) (*mysql.Config, error) {
	if strings.TrimSpace(c.DSN) == "" {
		return nil, &etl.FieldError{Path: []string{"dsn"}, Err: errors.New("required: a DSN, e.g. user:password@tcp(127.0.0.1:3306)/db")}
	}
	cfg, err := mysql.ParseDSN(c.DSN)
	if err != nil {
		return nil, &etl.FieldError{Path: []string{"dsn"}, Err: errors.New("not a valid DSN; want user:password@tcp(host:3306)/db (the value is not shown: it may hold a password)")}
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
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	cfg.Collation = "utf8mb4_unicode_ci"
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if c.StatementTimeout > 0 {
		cfg.Params["max_statement_time"] = strconv.FormatFloat(c.StatementTimeout.Seconds(), 'f', -1, 64)
	}
	if database != "" {
		cfg.DBName = database
	}
	return cfg, nil
}

// connConfig returns the connection's config from a component's BuildEnv.
func connConfig(env etl.BuildEnv, what string) (*ConnConfig, error) {
	if env.Connection == nil {
		return nil, fmt.Errorf("mysql %s: no connection", what)
	}
	c, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("mysql %s: connection %q is %s, not mysql", what, env.Connection.Name, env.Connection.Type)
	}
	if err := ValidateConnection(c, env.BaseDir); err != nil {
		return nil, fmt.Errorf("connection %q: %w", env.Connection.Name, err)
	}
	return c, nil
}

// open opens a pool of at most MaxConns connections on database (the
// DSN's when empty); with create, the database is created when missing.
// Each of session adjusts the driver config, e.g. targetSession.
func (c *ConnConfig) open(ctx context.Context, database string, create bool, session ...func(*mysql.Config)) (*sqlx.DB, error) {
	if create && database != "" {
		admin, err := c.open(ctx, "", false)
		if err != nil {
			return nil, err
		}
		q, _ := Dialect{}.QuoteIdent(database)
		_, err = admin.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+q+" CHARACTER SET utf8mb4")
		admin.Close()
		if err != nil {
			return nil, fmt.Errorf("create database %q: %w", database, err)
		}
	}
	cfg, err := c.driverConfig(database)
	if err != nil {
		return nil, err
	}
	for _, adjust := range session {
		adjust(cfg)
	}
	timeout := sqlconn.ConnectTimeout(c.ConnectTimeout, cfg.Timeout)
	cfg.Timeout = timeout
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "mysql")
	maxConns := c.MaxConns
	if maxConns == 0 {
		maxConns = 4
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(time.Minute) // below common wait_timeout settings
	if err := sqlconn.Ping(ctx, db, timeout); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// maxWarnings is the max_error_count of a target's sessions (the largest
// the servers allow): LOAD DATA reports a bad value as a warning, and
// SHOW WARNINGS lists no more than max_error_count of them, notes
// included.
const maxWarnings = 65535

// targetSession makes a target's sessions strict, as MariaDB and MySQL
// are by default, unless the DSN sets sql_mode: an INSERT of a value the
// column cannot hold fails instead of storing it truncated, as a LOAD DATA
// of it does (its warnings are errors to the target). And it keeps up to
// maxWarnings warnings per statement.
func targetSession(cfg *mysql.Config) {
	if _, set := cfg.Params["sql_mode"]; !set {
		cfg.Params["sql_mode"] = "CONCAT_WS(',', NULLIF(@@sql_mode, ''), 'STRICT_ALL_TABLES')"
	}
	if _, set := cfg.Params["max_error_count"]; !set {
		cfg.Params["max_error_count"] = strconv.Itoa(maxWarnings)
	}
}

// timeTruncate is the DSN's timeTruncate, which the driver applies to the
// times it writes into statements and keeps to itself; LOAD DATA writes
// times the same way. The DSN was validated: a bad value reads as 0.
func (c *ConnConfig) timeTruncate() time.Duration {
	_, params, _ := strings.Cut(c.DSN[strings.LastIndexByte(c.DSN, '/')+1:], "?")
	for p := range strings.SplitSeq(params, "&") {
		if v, ok := strings.CutPrefix(p, "timeTruncate="); ok {
			v, _ = url.QueryUnescape(v)
			d, _ := time.ParseDuration(v)
			return d
		}
	}
	return 0
}
