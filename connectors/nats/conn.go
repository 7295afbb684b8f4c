package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nightjar-etl/nightjar/connectors/internal/brokerconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// ConnConfig is a "nats" connection.
type ConnConfig struct {
	// URL is the server, or a comma-separated list of servers
	// (nats://host:4222, tls://host:4222).
	URL string `yaml:"url,required" doc:"the server, or a comma-separated list of servers (nats://host:4222, tls://host:4222)"`
	// User and Password, or Token, or CredsFile (a .creds file holding a
	// JWT and an NKey seed) authenticate; take them from ${VAR}s.
	User      string `yaml:"user" doc:"a user name; with password"`
	Password  string `yaml:"password" doc:"the user's password" secret:"true"`
	Token     string `yaml:"token" doc:"an auth token, instead of user and password" secret:"true"`
	CredsFile string `yaml:"creds_file" doc:"a .creds file holding a JWT and an NKey seed, instead of user or token"`
	// TLS options; any of them turns TLS on.
	TLS brokerconn.TLS `yaml:"tls" doc:"TLS options; any of them turns TLS on"`
	// ConnectTimeout bounds one attempt to connect; default 5s.
	ConnectTimeout time.Duration `yaml:"connect_timeout" doc:"bounds one attempt to connect; default 5s"`
	// ConnectAttempts is how many times a run tries to connect before it
	// fails, waiting the shared backoff between tries; default 3.
	ConnectAttempts int `yaml:"connect_attempts" doc:"how many times a run tries to connect before it fails, waiting the shared backoff between tries; default 3"`
	// Timeout bounds each JetStream API request and publish ack; default 10s.
	Timeout time.Duration `yaml:"timeout" doc:"bounds each JetStream API request and publish ack; default 10s"`
}

func init() {
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{
			Type:    "nats",
			Summary: "a NATS server with JetStream: URL, credentials, TLS",
			Example: "connections:\n  bus:\n    type: nats\n    url: nats://127.0.0.1:4222\n    user: nightjar\n    password: \"${NATS_PASSWORD}\"\n",
			Config:  func() any { return &ConnConfig{} },
		},
		Validate: func(cfg any, baseDir string) error { return cfg.(*ConnConfig).validate(baseDir) },
	})
}

func (c *ConnConfig) validate(baseDir string) error {
	if strings.TrimSpace(c.URL) == "" {
		return &etl.FieldError{Path: []string{"url"}, Err: errors.New("want nats://host:port")}
	}
	if c.Token != "" && (c.User != "" || c.CredsFile != "") {
		return &etl.FieldError{Path: []string{"token"}, Err: errors.New("use token, user/password or creds_file, not several")}
	}
	if c.ConnectTimeout < 0 || c.Timeout < 0 || c.ConnectAttempts < 0 {
		return &etl.FieldError{Path: []string{"timeout"}, Err: errors.New("timeouts and attempts cannot be negative")}
	}
	if c.TLS.Enabled() {
		if _, err := c.TLS.Config(baseDir); err != nil {
			return err
		}
	}
	return nil
}

func (c *ConnConfig) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 10 * time.Second
}

// connection is an open NATS connection with its JetStream context.
type connection struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	url string // without credentials, for messages
}

// connect opens the connection, trying ConnectAttempts times with the
// shared backoff; once connected, the client reconnects by itself with
// the same policy's waits, and what it does is logged.
func connect(ctx context.Context, c *ConnConfig, baseDir string, clock etl.Clock, log *slog.Logger, jsOpts ...jetstream.JetStreamOpt) (*connection, error) {
	shown := brokerconn.Redact(c.URL)
	opts := []nats.Option{
		nats.Name("nightjar"),
		nats.Timeout(orDefault(c.ConnectTimeout, 5*time.Second)),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay()),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected", "server", shown, "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats: reconnected", "server", shown) }),
	}
	switch {
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLS.Enabled() {
		tc, err := c.TLS.Config(baseDir)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := brokerconn.Dial(ctx, clock, c.ConnectAttempts, func(context.Context) (*nats.Conn, error) {
		nc, err := nats.Connect(c.URL, opts...)
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) {
			err = etl.Permanent(err)
		}
		return nc, err
	})
	if err != nil {
		return nil, fmt.Errorf("nats: connect to %s: %w", shown, err)
	}
	jsOpts = append(jsOpts, jetstream.WithDefaultTimeout(c.timeout()))
	js, err := jetstream.New(nc, jsOpts...)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: jetstream on %s: %w", shown, err)
	}
	return &connection{nc: nc, js: js, url: shown}, nil
}

// reconnectDelay spaces the client's reconnect attempts with the shared
// backoff policy.
func reconnectDelay() func(attempts int) time.Duration {
	bo := etl.DefaultBackoff.NewBackOff()
	return func(attempts int) time.Duration {
		if attempts <= 1 {
			bo.Reset()
		}
		return bo.NextBackOff()
	}
}

// stream looks a stream up, saying so clearly when it does not exist.
func (c *connection) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	s, err := c.js.Stream(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, etl.Permanent(fmt.Errorf("nats: stream %q does not exist on %s (create it, e.g. nats stream add %s)", name, c.url, name))
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return nil, etl.Permanent(fmt.Errorf("nats: JetStream is not enabled on %s", c.url))
	case err != nil:
		return nil, fmt.Errorf("nats: stream %q on %s: %w", name, c.url, err)
	}
	return s, nil
}

func (c *connection) close() {
	if c != nil && c.nc != nil {
		c.nc.Close()
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
