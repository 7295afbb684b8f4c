package rabbitmq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/nightjar-etl/nightjar/connectors/internal/brokerconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/msgdecode"
	"github.com/nightjar-etl/nightjar/etl"
)

// SourceConfig is the "amqp" source's config.
type SourceConfig struct {
	// Queue is the queue to consume; it must exist.
	Queue string `yaml:"queue,required"`
	// Prefetch bounds the messages delivered and not yet acked; default
	// four batches. It must cover what the job holds before a checkpoint
	// (a table target's commit_rows): the source waits for acks when it is
	// reached.
	Prefetch int `yaml:"prefetch"`
	// FetchWait is how long the source waits for the next message before
	// the batch is cut short; a wait that finds none ends the run.
	// Default 1s.
	FetchWait        time.Duration `yaml:"fetch_wait"`
	msgdecode.Config `yaml:",inline"`
}

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{
			Type:    "amqp/amqp",
			Summary: "messages from a RabbitMQ queue, acked (one multiple-ack) after the checkpoint",
			Example: "source:\n  type: amqp\n  connection: rabbit\n  queue: leads\n  format: jsonl\n",
			Config:  func() any { return &SourceConfig{FetchWait: time.Second, Config: msgdecode.Defaults()} },
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Source, error) { return NewSource(*cfg.(*SourceConfig), env) },
	})
}

// Position names a batch by its messages (their message-ids, or their
// bodies when they have none): a batch the queue delivers again after a
// crash, in the same order, has the same position, so its batch key
// matches the targets' replay markers. RabbitMQ keeps no offset: the
// queue itself is where a run resumes.
type Position struct {
	Messages int    `json:"messages"`
	Digest   string `json:"digest"`
	// Last names the batch's last message (its message-id, or a digest of
	// its body): a run that finds it among the messages redelivered first
	// knows they were recorded, their ack lost.
	Last string `json:"last,omitempty"`
}

// Source consumes a queue.
type Source struct {
	cfg     SourceConfig
	conn    *ConnConfig
	baseDir string
	dec     *msgdecode.Decoder

	c          *connection
	deliveries <-chan amqp.Delivery
	closed     chan *amqp.Error
	log        *slog.Logger
	batch      int
	prefetch   int
	done       bool

	mu sync.Mutex
	// batches are the positions handed out and not yet acked, with the
	// delivery tag of each one's last message, in order.
	batches []heldBatch
	held    int // messages delivered and not acked
	acked   chan struct{}
	// recorded is the last message the checkpoint passed when the run
	// began; ahead are deliveries taken from the queue before Next uses
	// them.
	recorded string
	ahead    []amqp.Delivery
	// cuts are where batches were cut short (see brokerconn.Cuts), each a
	// batch's message count and its last message's identity; ours are the
	// cuts this run made or met. The others, recorded by runs before, name
	// batches of the messages the queue gives back first; once a message
	// that is not a redelivery comes, they are forgotten.
	cuts      *brokerconn.Cuts
	ours      map[string]bool
	replaying bool
}

type heldBatch struct {
	pos      string
	tag      uint64
	messages int
	cut      string // the cut that ended the batch; "" for a full one
}

var (
	_ etl.Source = (*Source)(nil)
	_ etl.Acker  = (*Source)(nil)
)

// NewSource checks cfg; it does no I/O.
func NewSource(cfg SourceConfig, env etl.BuildEnv) (*Source, error) {
	if env.Connection == nil {
		return nil, errors.New("amqp source: needs a connection")
	}
	conn, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("amqp source: connection %s is %T, want an amqp connection", env.Connection.Name, env.Connection.Config)
	}
	if cfg.FetchWait <= 0 {
		return nil, &etl.FieldError{Path: []string{"fetch_wait"}, Err: fmt.Errorf("%v: want more than 0", cfg.FetchWait)}
	}
	if cfg.Prefetch < 0 {
		return nil, &etl.FieldError{Path: []string{"prefetch"}, Err: fmt.Errorf("%d: cannot be negative", cfg.Prefetch)}
	}
	dec, err := msgdecode.New(cfg.Config)
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, conn: conn, baseDir: env.BaseDir, dec: dec}, nil
}

// Open connects, checks that the queue exists and starts consuming with
// manual acks. The position is not used: the queue redelivers what was not
// acked. A full refresh or a state reset cannot bring back messages the
// queue let go of once acked; they only start a new load (the targets
// then take redelivered batches as new).
func (s *Source) Open(ctx context.Context, env etl.SourceEnv) error {
	s.log, s.batch = env.Logger, env.BatchSize
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if env.Position != nil && !env.FullRefresh {
		var p Position
		if err := json.Unmarshal(env.Position, &p); err == nil {
			s.recorded = p.Last
		}
	}
	s.prefetch = s.cfg.Prefetch
	if s.prefetch == 0 {
		s.prefetch = 4 * s.batch
	}
	if s.prefetch < s.batch {
		return &etl.FieldError{Path: []string{"prefetch"}, Err: fmt.Errorf("%d is less than the batch size, %d", s.prefetch, s.batch)}
	}
	cuts, err := brokerconn.LoadCuts(ctx, env.Notes, env.Clock, "source cuts")
	if err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	s.cuts, s.ours, s.replaying = cuts, map[string]bool{}, cuts.Len() > 0
	c, err := connect(ctx, s.conn, s.baseDir)
	if err != nil {
		return err
	}
	s.c = c
	if _, err := c.ch.QueueDeclarePassive(s.cfg.Queue, true, false, false, false, nil); err != nil {
		return c.notFound(err, fmt.Sprintf("queue %q", s.cfg.Queue))
	}
	if err := c.ch.Qos(s.prefetch, 0, false); err != nil {
		return fmt.Errorf("rabbitmq: prefetch %d: %w", s.prefetch, err)
	}
	s.closed = c.ch.NotifyClose(make(chan *amqp.Error, 1))
	s.acked = make(chan struct{}, 1)
	if s.deliveries, err = c.ch.ConsumeWithContext(ctx, s.cfg.Queue, "nightjar-"+env.Job, false, false, false, false, nil); err != nil {
		return c.notFound(err, fmt.Sprintf("queue %q", s.cfg.Queue))
	}
	return nil
}

// Next gathers up to the batch size of messages; it cuts a batch short
// where a run before cut it (a recorded cut: see brokerconn.Cuts), or when
// no message came for FetchWait, and then records the cut before it hands
// the batch out. A wait that finds none ends the input. When the prefetch is reached it waits for the acks of the
// next checkpoint instead.
func (s *Source) Next(ctx context.Context) (*etl.Batch, error) {
	if s.done {
		return nil, etl.ErrEndOfInput
	}
	if s.recorded != "" {
		if err := s.skipRecorded(ctx); err != nil {
			return nil, err
		}
	}
	msgs := make([]amqp.Delivery, 0, s.batch)
	cut := ""
	timer := time.NewTimer(s.cfg.FetchWait)
	defer timer.Stop()
gather:
	for len(msgs) < s.batch {
		if len(s.ahead) > 0 {
			msgs = append(msgs, s.ahead[0])
			s.ahead = s.ahead[1:]
			if cut = s.recordedCut(msgs); cut != "" {
				break
			}
			continue
		}
		s.mu.Lock()
		full := s.held+len(msgs) >= s.prefetch
		s.mu.Unlock()
		if full {
			// Waiting for acks is no sign of the end of the queue: the
			// timer starts again once they came.
			select {
			case <-s.acked:
				if !timer.Stop() {
					select {
					case <-timer.C:
					default:
					}
				}
				timer.Reset(s.cfg.FetchWait)
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			case err := <-s.closed:
				return nil, fmt.Errorf("rabbitmq: channel closed: %v", err)
			}
		}
		select {
		case d, ok := <-s.deliveries:
			if !ok {
				return nil, fmt.Errorf("rabbitmq: consumer of %q cancelled (queue deleted?)", s.cfg.Queue)
			}
			msgs = append(msgs, d)
			if cut = s.recordedCut(msgs); cut != "" {
				break gather
			}
			if !timer.Stop() {
				<-timer.C
			}
			timer.Reset(s.cfg.FetchWait)
			continue
		case <-timer.C:
			if len(msgs) > 0 {
				// A batch is cut short only at the end of what the queue
				// holds, so that a replay cuts it the same way: a slow
				// delivery is waited for.
				q, err := s.c.ch.QueueDeclarePassive(s.cfg.Queue, true, false, false, false, nil)
				if err != nil {
					return nil, s.c.notFound(err, fmt.Sprintf("queue %q", s.cfg.Queue))
				}
				if q.Messages > 0 {
					timer.Reset(s.cfg.FetchWait)
					continue
				}
				cut = cutName(msgs)
				if err := s.cuts.Record(ctx, cut); err != nil {
					return nil, fmt.Errorf("rabbitmq: %w", err)
				}
				s.ours[cut] = true
			}
		case err := <-s.closed:
			return nil, fmt.Errorf("rabbitmq: channel closed: %v", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		break
	}
	if len(msgs) == 0 {
		s.done = true
		return nil, etl.ErrEndOfInput
	}
	in := make([]msgdecode.Message, len(msgs))
	digest := sha256.New()
	var bytes int64
	for i, d := range msgs {
		headers := map[string][]string{}
		for k, v := range d.Headers {
			headers[k] = []string{fmt.Sprint(v)}
		}
		if d.MessageId != "" {
			headers["message-id"] = []string{d.MessageId}
			digest.Write([]byte("id:" + d.MessageId))
		} else {
			sum := sha256.Sum256(d.Body)
			digest.Write([]byte("body:"))
			digest.Write(sum[:])
		}
		digest.Write([]byte{0})
		in[i] = msgdecode.Message{Payload: d.Body, Subject: d.RoutingKey, Headers: headers, Seq: d.DeliveryTag,
			Origin: fmt.Sprintf("rabbitmq queue %s message %s", s.cfg.Queue, messageName(d))}
		bytes += int64(len(d.Body))
	}
	pos, _ := json.Marshal(Position{Messages: len(msgs), Digest: hex.EncodeToString(digest.Sum(nil)[:16]), Last: identity(msgs[len(msgs)-1])})
	s.mu.Lock()
	s.batches = append(s.batches, heldBatch{pos: string(pos), tag: msgs[len(msgs)-1].DeliveryTag, messages: len(msgs), cut: cut})
	s.held += len(msgs)
	s.mu.Unlock()
	b, n, err := s.dec.Decode(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	if n < len(msgs) {
		return nil, fmt.Errorf("rabbitmq: messages of queue %s change shape within one batch; use format jsonl or one CSV header", s.cfg.Queue)
	}
	b.Position, b.Bytes = pos, bytes
	return b, nil
}

// recordedCut returns the cut that ends a batch of msgs here, if one is
// recorded; "" if none. The first message that is not a redelivery ends
// the messages the cuts of runs before may name: those not met are
// forgotten.
func (s *Source) recordedCut(msgs []amqp.Delivery) string {
	if s.cuts.Len() == 0 {
		return ""
	}
	if s.replaying && !msgs[len(msgs)-1].Redelivered {
		s.replaying = false
		s.cuts.Forget(func(cut string) bool { return !s.ours[cut] })
	}
	cut := cutName(msgs)
	if !s.cuts.Has(cut) {
		return ""
	}
	s.ours[cut] = true
	return cut
}

// cutName names a cut after msgs: their count and the last one's identity.
func cutName(msgs []amqp.Delivery) string {
	return strconv.Itoa(len(msgs)) + " " + identity(msgs[len(msgs)-1])
}

// skipRecorded looks at the messages the queue redelivers first (a run
// that died holding them): when the last message the checkpoint passed is
// among them, its ack was lost after the checkpoint (the process died in
// between), so it and those before it are acked now instead of loaded
// again. The others stay ahead, to be read in order.
func (s *Source) skipRecorded(ctx context.Context) error {
	recorded := s.recorded
	s.recorded = ""
	for len(s.ahead) < s.prefetch {
		var d amqp.Delivery
		select {
		case d = <-s.deliveries:
		case <-time.After(s.cfg.FetchWait):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		if !d.Redelivered {
			s.ahead = append(s.ahead, d)
			return nil
		}
		s.ahead = append(s.ahead, d)
		if identity(d) == recorded {
			if err := s.c.ch.Ack(d.DeliveryTag, true); err != nil {
				return fmt.Errorf("rabbitmq: ack %d messages recorded before: %w", len(s.ahead), err)
			}
			s.log.Info("rabbitmq: messages recorded by the last checkpoint came again (their ack was lost): acked", "messages", len(s.ahead))
			s.ahead = s.ahead[:0]
			return nil
		}
	}
	return nil
}

// identity names a message for Position.Last: its message-id, or a digest
// of its body.
func identity(d amqp.Delivery) string {
	if d.MessageId != "" {
		return "id:" + d.MessageId
	}
	sum := sha256.Sum256(d.Body)
	return "body:" + hex.EncodeToString(sum[:16])
}

func messageName(d amqp.Delivery) string {
	if d.MessageId != "" {
		return strconv.Quote(d.MessageId)
	}
	return "#" + strconv.FormatUint(d.DeliveryTag, 10)
}

// Ack acks, with one multiple-ack, every message up to the last one of
// the batch at pos: the checkpoint that passes them has committed. A
// position this run did not hand out (a run that read nothing) acks
// nothing.
func (s *Source) Ack(_ context.Context, pos etl.Position) error {
	s.mu.Lock()
	n := -1
	for i, b := range s.batches {
		if b.pos == string(pos) {
			n = i
			break
		}
	}
	if n < 0 {
		s.mu.Unlock()
		return nil
	}
	last := s.batches[n]
	acked := map[string]bool{}
	for _, b := range s.batches[:n+1] {
		s.held -= b.messages
		if b.cut != "" {
			acked[b.cut] = true
		}
	}
	s.batches = s.batches[n+1:]
	s.mu.Unlock()
	if len(acked) > 0 {
		s.cuts.Forget(func(cut string) bool { return acked[cut] })
	}
	if err := s.c.ch.Ack(last.tag, true); err != nil {
		return fmt.Errorf("rabbitmq: ack up to delivery %d: %w", last.tag, err)
	}
	select {
	case s.acked <- struct{}{}:
	default:
	}
	return nil
}

// Close closes the channel and the connection: messages not acked go back
// to the queue, in their order, for the next run.
func (s *Source) Close(ctx context.Context) error {
	s.c.close()
	s.c = nil
	if s.cuts != nil {
		if err := s.cuts.Save(ctx); err != nil {
			return fmt.Errorf("rabbitmq: %w", err)
		}
	}
	return nil
}
