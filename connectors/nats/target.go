package nats

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nightjar-etl/nightjar/connectors/internal/brokerconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// TargetConfig is the "nats" target's config.
type TargetConfig struct {
	// Subject is where records are published; a stream must capture it.
	Subject string `yaml:"subject,required" doc:"where records are published; a stream must capture it"`
	// Per is "record" (the default: one message per record, its JSON
	// object) or "batch" (one message per batch, its records as JSON
	// Lines).
	Per string `yaml:"per" doc:"\"record\" (the default: one message per record, its JSON object) or \"batch\" (one message per batch, its records as JSON Lines)"`
	// MaxInFlight bounds the publishes awaiting their ack; default 256.
	MaxInFlight int `yaml:"max_in_flight" doc:"bounds the publishes awaiting their ack; default 256"`
}

func init() {
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "nats/nats",
			Summary: "publishes records to a JetStream subject, each with a Nats-Msg-Id the server deduplicates",
			Example: "targets:\n  - type: nats\n    connection: bus\n    subject: leads.qualified\n",
			Config:  func() any { return &TargetConfig{Per: "record", MaxInFlight: 256} },
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Target, error) { return NewTarget(*cfg.(*TargetConfig), env) },
	})
}

// Target publishes batches to a JetStream subject.
type Target struct {
	cfg     TargetConfig
	conn    *ConnConfig
	baseDir string
	c       *connection
	job     string
	name    string
	skipped int64
	// Published counts the messages the stream stored; Duplicates those it
	// dropped as already held (a replay within its duplicate window).
	Published, Duplicates int64
}

var (
	_ etl.Target  = (*Target)(nil)
	_ etl.Skipper = (*Target)(nil)
)

// NewTarget checks cfg; it does no I/O.
func NewTarget(cfg TargetConfig, env etl.BuildEnv) (*Target, error) {
	if env.Connection == nil {
		return nil, errors.New("nats target: needs a connection")
	}
	conn, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("nats target: connection %s is %T, want a nats connection", env.Connection.Name, env.Connection.Config)
	}
	if cfg.Per != "record" && cfg.Per != "batch" {
		return nil, &etl.FieldError{Path: []string{"per"}, Err: fmt.Errorf("%q: want record or batch", cfg.Per)}
	}
	if cfg.MaxInFlight < 1 {
		return nil, &etl.FieldError{Path: []string{"max_in_flight"}, Err: fmt.Errorf("%d: want at least 1", cfg.MaxInFlight)}
	}
	return &Target{cfg: cfg, conn: conn, baseDir: env.BaseDir}, nil
}

// Open connects and checks that a stream captures the subject.
func (t *Target) Open(ctx context.Context, env etl.TargetEnv) error {
	// A publish ack is bounded by the connection's timeout, as a request
	// is: nats.go's own bounds are none for an ack and 200 ms for a
	// publish waiting on a full window (ErrTooManyStalledMsgs), which a
	// loaded server overran, failing the run.
	c, err := connect(ctx, t.conn, t.baseDir, env.Clock, env.Logger, jetstream.WithPublishAsyncMaxPending(t.cfg.MaxInFlight),
		jetstream.WithPublishAsyncTimeout(t.conn.timeout()))
	if err != nil {
		return err
	}
	if _, err := c.js.StreamNameBySubject(ctx, t.cfg.Subject); err != nil {
		c.close()
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return etl.Permanent(fmt.Errorf("nats: no stream on %s captures subject %q (add it to a stream's subjects)", c.url, t.cfg.Subject))
		}
		return fmt.Errorf("nats: stream of subject %q on %s: %w", t.cfg.Subject, c.url, err)
	}
	t.c, t.job, t.name = c, env.Job, env.Name
	return nil
}

// MsgID is the id of row (or of the whole batch, row -1) of the batch
// with key batchKey: see brokerconn.RecordID.
func MsgID(job, target, batchKey string, row int) string {
	return brokerconn.RecordID(job, target, batchKey, row)
}

// Write publishes the batch, at most MaxInFlight messages awaiting their
// ack, and returns once the stream acked every one; a message the stream
// reports as a duplicate counts as skipped.
func (t *Target) Write(ctx context.Context, b *etl.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	key := etl.BatchKey(b)
	var futures []jetstream.PubAckFuture
	var rowsOf []int // rows each message carries
	publish := func(data []byte, id string, rows int) error {
		m := &nats.Msg{Subject: t.cfg.Subject, Data: data, Header: nats.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, id)
		f, err := t.c.js.PublishMsgAsync(m, jetstream.WithStallWait(t.conn.timeout()))
		if err != nil {
			return fmt.Errorf("nats: publish to %s: %w", t.cfg.Subject, err)
		}
		futures = append(futures, f)
		rowsOf = append(rowsOf, rows)
		return nil
	}
	if t.cfg.Per == "batch" {
		var data []byte
		for i := range b.Len() {
			data = append(append(data, b.RowJSON(i)...), '\n')
		}
		if err := publish(data, MsgID(t.job, t.name, key, -1), b.Len()); err != nil {
			return err
		}
	} else {
		for i := range b.Len() {
			if err := publish(b.RowJSON(i), MsgID(t.job, t.name, key, i), 1); err != nil {
				return t.await(ctx, futures, rowsOf, err)
			}
		}
	}
	return t.await(ctx, futures, rowsOf, nil)
}

// await waits for every publish ack; failed is a publish error already
// met, returned after the acks of what was sent.
func (t *Target) await(ctx context.Context, futures []jetstream.PubAckFuture, rowsOf []int, failed error) error {
	var errs []error
	if failed != nil {
		errs = append(errs, failed)
	}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				t.Duplicates++
				t.skipped += int64(rowsOf[i])
			} else {
				t.Published++
			}
		case err := <-f.Err():
			if errors.Is(err, nats.ErrNoResponders) {
				err = fmt.Errorf("no stream captures subject %q: %w", t.cfg.Subject, err)
			}
			if len(errs) < 3 {
				errs = append(errs, fmt.Errorf("nats: publish to %s: %w", t.cfg.Subject, err))
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// TakeSkipped returns the rows the stream dropped as duplicates since the
// last call.
func (t *Target) TakeSkipped() int64 {
	n := t.skipped
	t.skipped = 0
	return n
}

// Durability: a batch is durable once the stream acked its messages.
func (t *Target) Durability() etl.Durability { return etl.DurablePerBatch }

// Commit does nothing: Write waited for the acks.
func (t *Target) Commit(context.Context) error { return nil }

// Close closes the connection.
func (t *Target) Close() error {
	t.c.close()
	t.c = nil
	return nil
}
