package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/nightjar-etl/nightjar/connectors/internal/brokerconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// ConnConfig is an "amqp" connection.
type ConnConfig struct {
	// URL is amqp://user:password@host:5672/vhost (amqps:// for TLS); take
	// the password from a ${VAR}.
	URL string `yaml:"url,required" doc:"amqp://user:password@host:5672/vhost (amqps:// for TLS); take the password from a ${VAR}" secret:"true"`
	// TLS options; any of them turns TLS on (with an amqps:// URL).
	TLS brokerconn.TLS `yaml:"tls" doc:"TLS options; any of them turns TLS on (with an amqps:// URL)"`
	// ConnectTimeout bounds one attempt to connect; default 5s.
	ConnectTimeout time.Duration `yaml:"connect_timeout" doc:"bounds one attempt to connect; default 5s"`
	// ConnectAttempts is how many times a run tries to connect before it
	// fails, waiting the shared backoff between tries; default 3.
	ConnectAttempts int `yaml:"connect_attempts" doc:"how many times a run tries to connect before it fails, waiting the shared backoff between tries; default 3"`
}

func init() {
	etl.RegisterConnection(etl.ConnectionSpec{
		Spec: etl.Spec{
			Type:    "amqp",
			Summary: "a RabbitMQ broker (AMQP 0-9-1): URL with credentials, TLS",
			Example: "connections:\n  rabbit:\n    type: amqp\n    url: \"amqp://nightjar:${RABBIT_PASSWORD}@127.0.0.1:5672/\"\n",
			Config:  func() any { return &ConnConfig{} },
		},
		Validate: func(cfg any, baseDir string) error { return cfg.(*ConnConfig).validate(baseDir) },
	})
}

func (c *ConnConfig) validate(baseDir string) error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		return &etl.FieldError{Path: []string{"url"}, Err: errors.New("want amqp://user:password@host:5672/vhost")}
	}
	if c.ConnectTimeout < 0 || c.ConnectAttempts < 0 {
		return &etl.FieldError{Path: []string{"connect_timeout"}, Err: errors.New("cannot be negative")}
	}
	if c.TLS.Enabled() {
		if _, err := c.TLS.Config(baseDir); err != nil {
			return err
		}
	}
	return nil
}

// connection is an open AMQP connection with one channel.
type connection struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	url  string // without the password, for messages
	// raw is the network connection under conn, for tests that cut it.
	raw net.Conn
}

// connect dials with the shared backoff between attempts; refused
// credentials are not tried again.
func connect(ctx context.Context, c *ConnConfig, baseDir string, clock etl.Clock) (*connection, error) {
	shown := brokerconn.Redact(c.URL)
	conn := &connection{url: shown}
	dial := amqp.DefaultDial(c.timeout())
	cfg := amqp.Config{Properties: amqp.Table{"connection_name": "nightjar"}, Dial: func(network, addr string) (net.Conn, error) {
		nc, err := dial(network, addr)
		conn.raw = nc
		return nc, err
	}}
	if c.TLS.Enabled() {
		tc, err := c.TLS.Config(baseDir)
		if err != nil {
			return nil, err
		}
		cfg.TLSClientConfig = tc
	}
	ac, err := brokerconn.Dial(ctx, clock, c.ConnectAttempts, func(context.Context) (*amqp.Connection, error) {
		conn, err := amqp.DialConfig(c.URL, cfg)
		var ae *amqp.Error
		if errors.As(err, &ae) && (ae.Code == amqp.AccessRefused || strings.Contains(ae.Reason, "ACCESS_REFUSED")) || errors.Is(err, amqp.ErrCredentials) {
			err = etl.Permanent(fmt.Errorf("credentials refused: %w", err))
		}
		return conn, err
	})
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) {
			return nil, fmt.Errorf("rabbitmq: cannot reach %s: %w", shown, err)
		}
		return nil, fmt.Errorf("rabbitmq: connect to %s: %w", shown, err)
	}
	ch, err := ac.Channel()
	if err != nil {
		ac.Close()
		return nil, fmt.Errorf("rabbitmq: open channel on %s: %w", shown, err)
	}
	conn.conn, conn.ch = ac, ch
	return conn, nil
}

// timeout bounds one attempt to connect, and the wait for the messages
// given back after a reconnect.
func (c *ConnConfig) timeout() time.Duration {
	if c.ConnectTimeout > 0 {
		return c.ConnectTimeout
	}
	return 5 * time.Second
}

// notFound turns a 404 channel error into a clear, permanent error.
func (c *connection) notFound(err error, what string) error {
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return etl.Permanent(fmt.Errorf("rabbitmq: %s does not exist on %s", what, c.url))
	}
	return fmt.Errorf("rabbitmq: %s on %s: %w", what, c.url, err)
}

func (c *connection) close() {
	if c == nil {
		return
	}
	if c.ch != nil {
		_ = c.ch.Close()
	}
	if c.conn != nil {
		_ = c.conn.Close()
	}
}
