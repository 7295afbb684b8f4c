package rabbitmq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/nightjar-etl/nightjar/connectors/internal/brokerconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/msgdecode"
	"github.com/nightjar-etl/nightjar/etl"
)

// SourceConfig is the "amqp" source's config.
type SourceConfig struct {
	// Queue is the queue to consume; it must exist.
	Queue string `yaml:"queue,required" doc:"the queue to consume; it must exist"`
	// Prefetch bounds the messages delivered and not yet acked; default
	// four batches. It must cover what the job holds before a checkpoint
	// (a table target's commit_rows): the source waits for acks when it is
	// reached.
	Prefetch int `yaml:"prefetch" doc:"bounds the messages delivered and not yet acked; default four batches"`
	// FetchWait is how long the source waits for the next message before
	// the batch is cut short; a wait that finds none ends the run.
	// Default 1s.
	FetchWait        time.Duration `yaml:"fetch_wait" doc:"how long the source waits for the next message before the batch is cut short; a wait that finds none ends the run"`
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
	clock   etl.Clock // the run's (SourceEnv.Clock)
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
	// tag is the consumer tag; lastAcked the identity of the last message
	// acked (a reconnect looks for it among the messages given back).
	tag        string
	lastAcked  string
	reconnects atomic.Int64
	// backlog is how many messages the queue held ready when consuming
	// began, up to the prefetch: the broker delivers them first, those a
	// run before held among them, so skipRecorded waits for them.
	backlog int
}

type heldBatch struct {
	pos    string
	digest string
	// tag is the delivery tag of the batch's last message; 0 after a
	// reconnect until the batch's messages came again (see rematch).
	tag      uint64
	messages int
	last     string // the last message's identity
	cut      string // the cut that ended the batch; "" for a full one
	// acked: its checkpoint committed, the ack waits for the batches
	// before it or for its delivery tag.
	acked bool
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
	s.log, s.batch, s.clock = env.Logger, env.BatchSize, etl.SystemClockOr(env.Clock)
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
	s.acked = make(chan struct{}, 1)
	s.tag = "nightjar-" + env.Job
	return s.consume(ctx)
}

// consume connects, checks that the queue exists, waits until it has no
// consumer (see idle) and starts consuming it, exclusively: the source is
// the queue's one consumer, so the queue gives back what a run before held
// first and in order, and no other consumer takes a part of it.
func (s *Source) consume(ctx context.Context) error {
	c, err := connect(ctx, s.conn, s.baseDir, s.clock)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
	ready, err := s.idle(ctx, c)
	if err != nil {
		return err
	}
	if err := c.ch.Qos(s.prefetch, 0, false); err != nil {
		return fmt.Errorf("rabbitmq: prefetch %d: %w", s.prefetch, err)
	}
	s.closed = c.ch.NotifyClose(make(chan *amqp.Error, 1))
	// The consumer lasts as long as the channel: the end of the run's
	// context does not cancel it (a cancel racing Close's channel close),
	// Close closes the channel.
	if s.deliveries, err = c.ch.ConsumeWithContext(context.WithoutCancel(ctx), s.cfg.Queue, s.tag, false, true, false, false, nil); err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.AccessRefused {
			return fmt.Errorf("rabbitmq: queue %q on %s has another consumer; the source must be its only one: %w", s.cfg.Queue, c.url, err)
		}
		return c.notFound(err, fmt.Sprintf("queue %q", s.cfg.Queue))
	}
	s.backlog = min(ready, s.prefetch)
	return nil
}

// idle waits until the queue has no consumer and returns how many
// messages it then holds ready. A run that died holding messages (killed
// after its checkpoint, before its ack reached the broker) keeps its
// consumer until the broker notices the connection is gone (at once for a
// closed socket, after missed heartbeats for a lost machine); only then
// does the queue give its messages back, at their place ahead of the
// others. Consuming before that would take the messages behind them first
// and the ones given back later: batches cut from other messages than the
// run before cut, which the targets load again under new batch keys, and
// messages the checkpoint passed loaded a second time.
func (s *Source) idle(ctx context.Context, c *connection) (int, error) {
	limit := 3 * c.conn.Config.Heartbeat
	if limit < s.conn.timeout() {
		limit = s.conn.timeout()
	}
	deadline := s.clock.Now().Add(limit)
	for logged := false; ; {
		q, err := c.ch.QueueDeclarePassive(s.cfg.Queue, true, false, false, false, nil)
		if err != nil {
			return 0, c.notFound(err, fmt.Sprintf("queue %q", s.cfg.Queue))
		}
		if q.Consumers == 0 {
			return q.Messages, nil
		}
		if s.clock.Now().After(deadline) {
			return 0, fmt.Errorf("rabbitmq: queue %q on %s still has %d consumers after %v; the source must be its only one (a run that died keeps its consumer until the broker notices)", s.cfg.Queue, c.url, q.Consumers, limit)
		}
		if !logged {
			s.log.Info("rabbitmq: waiting for the queue's consumer to go (a run that died holds messages until the broker notices)", "queue", s.cfg.Queue, "consumers", q.Consumers)
			logged = true
		}
		if err := etl.Sleep(ctx, s.clock, 50*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// reconnect connects again after the connection was lost (cause) mid-run,
// trying as many times as Open did with the shared backoff. The broker
// gave every delivery not acked back to the queue: those of the batches
// handed out come again first and are matched to them (see rematch); the
// others are read again as new.
func (s *Source) reconnect(ctx context.Context, cause error) error {
	s.log.Warn("rabbitmq: connection lost; connecting again", "server", s.c.url, "err", cause)
	s.mu.Lock()
	old := s.c
	for i := range s.batches {
		s.batches[i].tag = 0
	}
	// The last ack sent may not have reached the broker; before the first
	// one, the checkpoint's last message is still to be looked for.
	if s.lastAcked != "" {
		s.recorded = s.lastAcked
	}
	s.mu.Unlock()
	old.close()
	s.ahead = nil
	if err := s.consume(ctx); err != nil {
		return fmt.Errorf("rabbitmq: connection lost (%v) and not restored: %w", cause, err)
	}
	s.reconnects.Add(1)
	s.log.Info("rabbitmq: connected again", "server", s.c.url)
	return nil
}

// rematch takes the deliveries of the batches handed out before a
// reconnect, which the queue gives back first in their order, and gives
// each batch its new delivery tag, so that its checkpoint acks it; a
// batch whose messages come back different fails the run (its rows stay
// loaded; the next run finds them by the targets' replay markers).
func (s *Source) rematch(ctx context.Context) error {
	for {
		s.mu.Lock()
		i := slices.IndexFunc(s.batches, func(b heldBatch) bool { return b.tag == 0 })
		var b heldBatch
		if i >= 0 {
			b = s.batches[i]
		}
		s.mu.Unlock()
		if i < 0 {
			return nil
		}
		msgs := make([]amqp.Delivery, 0, b.messages)
		wait := s.clock.NewTimer(s.conn.timeout())
		for len(msgs) < b.messages {
			if len(s.ahead) > 0 {
				msgs, s.ahead = append(msgs, s.ahead[0]), s.ahead[1:]
				continue
			}
			select {
			case d, ok := <-s.deliveries:
				if !ok {
					wait.Stop()
					return s.ended()
				}
				msgs = append(msgs, d)
			case <-wait.C():
				return fmt.Errorf("rabbitmq: after connecting again, %d messages held of queue %q did not come back within %v", b.messages-len(msgs), s.cfg.Queue, s.conn.timeout())
			case err := <-s.closed:
				wait.Stop()
				return fmt.Errorf("%w: %v", errLost, err)
			case <-ctx.Done():
				wait.Stop()
				return ctx.Err()
			}
		}
		wait.Stop()
		if digest(msgs) != b.digest {
			return fmt.Errorf("rabbitmq: after connecting again, queue %q gave back other messages than those of a batch held (%d messages up to %s)", s.cfg.Queue, b.messages, b.last)
		}
		s.mu.Lock()
		// Ack may have let go of batches before it meanwhile.
		i = slices.IndexFunc(s.batches, func(h heldBatch) bool { return h.pos == b.pos && h.tag == 0 })
		s.batches[i].tag = msgs[len(msgs)-1].DeliveryTag
		err := s.ackDone()
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
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
		if err := s.skipRecorded(ctx); errors.Is(err, errLost) {
			return s.restart(ctx, err)
		} else if err != nil {
			return nil, err
		}
	}
	if err := s.rematch(ctx); errors.Is(err, errLost) {
		return s.restart(ctx, err)
	} else if err != nil {
		return nil, err
	}
	msgs := make([]amqp.Delivery, 0, s.batch)
	cut := ""
	timer := s.clock.NewTimer(s.cfg.FetchWait)
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
				timer.Reset(s.cfg.FetchWait) // drops a fire no one received
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			case err := <-s.closed:
				return s.restart(ctx, err)
			}
		}
		select {
		case d, ok := <-s.deliveries:
			if !ok {
				if err := s.ended(); !errors.Is(err, errLost) {
					return nil, err
				}
				return s.restart(ctx, amqp.ErrClosed)
			}
			msgs = append(msgs, d)
			if cut = s.recordedCut(msgs); cut != "" {
				break gather
			}
			timer.Reset(s.cfg.FetchWait) // drops a fire no one received
			continue
		case <-timer.C():
			if len(msgs) > 0 {
				// A batch is cut short only at the end of what the queue
				// holds, so that a replay cuts it the same way: a slow
				// delivery is waited for.
				q, err := s.c.ch.QueueDeclarePassive(s.cfg.Queue, true, false, false, false, nil)
				if errors.Is(err, amqp.ErrClosed) {
					return s.restart(ctx, err)
				}
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
			return s.restart(ctx, err)
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
	var bytes int64
	for i, d := range msgs {
		headers := map[string][]string{}
		for k, v := range d.Headers {
			headers[k] = []string{fmt.Sprint(v)}
		}
		if d.MessageId != "" {
			headers["message-id"] = []string{d.MessageId}
		}
		in[i] = msgdecode.Message{Payload: d.Body, Subject: d.RoutingKey, Headers: headers, Seq: d.DeliveryTag,
			Origin: fmt.Sprintf("rabbitmq queue %s message %s", s.cfg.Queue, messageName(d))}
		bytes += int64(len(d.Body))
	}
	sum, last := digest(msgs), identity(msgs[len(msgs)-1])
	pos, _ := json.Marshal(Position{Messages: len(msgs), Digest: sum, Last: last})
	s.mu.Lock()
	s.batches = append(s.batches, heldBatch{pos: string(pos), digest: sum, tag: msgs[len(msgs)-1].DeliveryTag, messages: len(msgs), last: last, cut: cut})
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

// errLost marks the connection lost: Next connects again.
var errLost = errors.New("connection lost")

// ended says why the deliveries stopped: the connection or channel was
// lost (errLost), or the consumer was cancelled (the queue deleted).
func (s *Source) ended() error {
	select {
	case err := <-s.closed:
		return fmt.Errorf("%w: %v", errLost, err)
	case <-s.clock.NewTimer(time.Second).C():
	}
	if s.c.ch.IsClosed() {
		return errLost
	}
	return fmt.Errorf("rabbitmq: consumer of %q cancelled (queue deleted?)", s.cfg.Queue)
}

// restart connects again after the connection was lost and reads the
// batch again from the start: the messages gathered so far come again.
func (s *Source) restart(ctx context.Context, cause error) (*etl.Batch, error) {
	if err := s.reconnect(ctx, cause); err != nil {
		return nil, err
	}
	return s.Next(ctx)
}

// digest names msgs for Position.Digest: their message-ids, or the
// digests of their bodies, in order.
func digest(msgs []amqp.Delivery) string {
	h := sha256.New()
	for _, d := range msgs {
		if d.MessageId != "" {
			h.Write([]byte("id:" + d.MessageId))
		} else {
			sum := sha256.Sum256(d.Body)
			h.Write([]byte("body:"))
			h.Write(sum[:])
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
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
	wait := s.clock.NewTimer(s.conn.timeout())
	defer wait.Stop()
	for len(s.ahead) < s.backlog {
		var (
			d  amqp.Delivery
			ok bool
		)
		// The messages the queue held are on their way: a slow one is
		// waited for, not taken for the end of the queue (the fetch wait
		// is no bound here), or those the checkpoint passed would be
		// read as new. One that never comes (it expired meanwhile) fails
		// the run; the next one counts again.
		select {
		case d, ok = <-s.deliveries:
			if !ok {
				s.recorded = recorded
				return s.ended()
			}
			wait.Reset(s.conn.timeout())
		case <-wait.C():
			s.recorded = recorded
			return fmt.Errorf("rabbitmq: queue %q held %d messages when the source began consuming; %d came, then none for %v", s.cfg.Queue, s.backlog, len(s.ahead), s.conn.timeout())
		case err := <-s.closed:
			s.recorded = recorded
			return fmt.Errorf("%w: %v", errLost, err)
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
// nothing. After a reconnect, the ack waits until the batch's messages
// came again (see rematch); one that cannot be sent because the
// connection was just lost is sent once it is restored.
func (s *Source) Ack(_ context.Context, pos etl.Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := slices.IndexFunc(s.batches, func(b heldBatch) bool { return b.pos == string(pos) })
	for i := range n + 1 {
		s.batches[i].acked = true
	}
	return s.ackDone()
}

// ackDone acks the leading batches whose checkpoint committed and whose
// delivery tags are known; s.mu is held.
func (s *Source) ackDone() error {
	n := 0
	for n < len(s.batches) && s.batches[n].acked && s.batches[n].tag != 0 {
		n++
	}
	if n == 0 {
		return nil
	}
	last := s.batches[n-1]
	if err := s.c.ch.Ack(last.tag, true); err != nil {
		if errors.Is(err, amqp.ErrClosed) {
			// The connection is lost: Next connects again and the
			// messages, given back to the queue, are acked when they
			// come again.
			s.log.Warn("rabbitmq: ack not sent: connection lost", "err", err)
			return nil
		}
		return fmt.Errorf("rabbitmq: ack up to delivery %d: %w", last.tag, err)
	}
	cuts := map[string]bool{}
	for _, b := range s.batches[:n] {
		s.held -= b.messages
		if b.cut != "" {
			cuts[b.cut] = true
		}
	}
	s.batches = s.batches[n:]
	s.lastAcked = last.last
	if len(cuts) > 0 {
		s.cuts.Forget(func(cut string) bool { return cuts[cut] })
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
	s.mu.Lock()
	s.c.close()
	s.c = nil
	s.mu.Unlock()
	if s.cuts != nil {
		if err := s.cuts.Save(ctx); err != nil {
			return fmt.Errorf("rabbitmq: %w", err)
		}
	}
	return nil
}
