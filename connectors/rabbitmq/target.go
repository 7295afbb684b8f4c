package rabbitmq

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/nightjar-etl/nightjar/connectors/internal/brokerconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// TargetConfig is the "amqp" target's config.
type TargetConfig struct {
	// Exchange is where records are published; empty is the default
	// exchange, which routes by queue name.
	Exchange string `yaml:"exchange" doc:"where records are published; empty is the default exchange, which routes by queue name"`
	// RoutingKey is each message's routing key (the queue's name on the
	// default exchange).
	RoutingKey string `yaml:"routing_key,required" doc:"each message's routing key (the queue's name on the default exchange)"`
	// MaxInFlight bounds the publishes awaiting their confirm; default 256.
	MaxInFlight int `yaml:"max_in_flight" doc:"bounds the publishes awaiting their confirm; default 256"`
}

func init() {
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "amqp/amqp",
			Summary: "publishes records to RabbitMQ with confirms, mandatory and persistent, each with a stable message-id",
			Example: "targets:\n  - type: amqp\n    connection: rabbit\n    exchange: crm\n    routing_key: leads.qualified\n",
			Config:  func() any { return &TargetConfig{MaxInFlight: 256} },
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Target, error) { return NewTarget(*cfg.(*TargetConfig), env) },
	})
}

// Target publishes each record as one persistent JSON message.
type Target struct {
	cfg     TargetConfig
	conn    *ConnConfig
	baseDir string
	c       *connection
	returns chan amqp.Return
	job     string
	name    string
	// Published counts the messages the broker confirmed.
	Published int64
}

var _ etl.Target = (*Target)(nil)

// NewTarget checks cfg; it does no I/O.
func NewTarget(cfg TargetConfig, env etl.BuildEnv) (*Target, error) {
	if env.Connection == nil {
		return nil, errors.New("amqp target: needs a connection")
	}
	conn, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("amqp target: connection %s is %T, want an amqp connection", env.Connection.Name, env.Connection.Config)
	}
	if cfg.MaxInFlight < 1 {
		return nil, &etl.FieldError{Path: []string{"max_in_flight"}, Err: fmt.Errorf("%d: want at least 1", cfg.MaxInFlight)}
	}
	return &Target{cfg: cfg, conn: conn, baseDir: env.BaseDir}, nil
}

// Open connects, checks that the exchange exists and turns publisher
// confirms on.
func (t *Target) Open(ctx context.Context, env etl.TargetEnv) error {
	c, err := connect(ctx, t.conn, t.baseDir, env.Clock)
	if err != nil {
		return err
	}
	if t.cfg.Exchange != "" {
		if err := c.ch.ExchangeDeclarePassive(t.cfg.Exchange, "direct", true, false, false, false, nil); err != nil {
			c.close()
			return c.notFound(err, fmt.Sprintf("exchange %q", t.cfg.Exchange))
		}
	}
	if err := c.ch.Confirm(false); err != nil {
		c.close()
		return fmt.Errorf("rabbitmq: publisher confirms on %s: %w", c.url, err)
	}
	t.returns = c.ch.NotifyReturn(make(chan amqp.Return, t.cfg.MaxInFlight+1))
	t.c, t.job, t.name = c, env.Job, env.Name
	return nil
}

// MessageID is the id of row (or of the whole batch, row -1) of the batch
// with key batchKey: see brokerconn.RecordID.
func MessageID(job, target, batchKey string, row int) string {
	return brokerconn.RecordID(job, target, batchKey, row)
}

// Write publishes the batch's records, at most MaxInFlight awaiting their
// confirm, and returns once the broker confirmed each; a record no queue
// took (returned, as mandatory asks) or one the broker refused (nack)
// fails the batch, which the next run sends again.
func (t *Target) Write(ctx context.Context, b *etl.Batch) error {
	key := etl.BatchKey(b)
	pending := make([]*amqp.DeferredConfirmation, 0, t.cfg.MaxInFlight)
	confirmed := func(dc *amqp.DeferredConfirmation) error {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("rabbitmq: confirm: %w", err)
		}
		if !ok {
			return fmt.Errorf("rabbitmq: the broker refused (nack) a message to exchange %q, key %q", t.cfg.Exchange, t.cfg.RoutingKey)
		}
		t.Published++
		// A mandatory message no queue took comes back before its
		// confirm; taking returns as they come also keeps the client
		// from blocking on a full returns channel.
		select {
		case r := <-t.returns:
			return etl.Permanent(fmt.Errorf("rabbitmq: message %s returned: %d %s (no queue is bound to exchange %q with key %q)",
				r.MessageId, r.ReplyCode, r.ReplyText, t.cfg.Exchange, t.cfg.RoutingKey))
		default:
		}
		return nil
	}
	for i := range b.Len() {
		if len(pending) == t.cfg.MaxInFlight {
			// A window that slides: the oldest confirm makes room.
			if err := confirmed(pending[0]); err != nil {
				return err
			}
			pending = pending[1:]
		}
		dc, err := t.c.ch.PublishWithDeferredConfirmWithContext(ctx, t.cfg.Exchange, t.cfg.RoutingKey, true, false, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent,
			MessageId: MessageID(t.job, t.name, key, i), Body: b.RowJSON(i),
		})
		if err != nil {
			return fmt.Errorf("rabbitmq: publish to exchange %q: %w", t.cfg.Exchange, err)
		}
		pending = append(pending, dc)
	}
	for _, dc := range pending {
		if err := confirmed(dc); err != nil {
			return err
		}
	}
	return nil
}

// Durability: a batch is durable once the broker confirmed its messages.
func (t *Target) Durability() etl.Durability { return etl.DurablePerBatch }

// Commit does nothing: Write waited for the confirms.
func (t *Target) Commit(context.Context) error { return nil }

// Close closes the connection.
func (t *Target) Close() error {
	t.c.close()
	t.c = nil
	return nil
}
