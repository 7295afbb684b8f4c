package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nightjar-etl/nightjar/connectors/internal/brokerconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/msgdecode"
	"github.com/nightjar-etl/nightjar/etl"
)

// SourceConfig is the "nats" source's config.
type SourceConfig struct {
	// Stream is the JetStream stream to read.
	Stream string `yaml:"stream,required" doc:"the JetStream stream to read"`
	// Consumer is the durable consumer's name; default "nightjar-<job>".
	Consumer string `yaml:"consumer" doc:"the durable consumer's name; default \"nightjar-<job>\""`
	// Subjects filter the stream's subjects; default all of them.
	Subjects []string `yaml:"subjects" doc:"filter the stream's subjects; default all of them"`
	// AckWait is the consumer's ack wait when the source creates it;
	// default 30s. The source tells the server every third of it that the
	// messages it holds are in progress.
	AckWait time.Duration `yaml:"ack_wait" doc:"the consumer's ack wait when the source creates it; default 30s"`
	// FetchWait is how long a fetch waits for messages before the batch is
	// cut short; a fetch that finds none ends the run. Default 1s.
	FetchWait time.Duration `yaml:"fetch_wait" doc:"how long a fetch waits for messages before the batch is cut short; a fetch that finds none ends the run"`
	// DeliverNew, on a first run (no position), starts at the messages
	// published from then on instead of the stream's first message.
	DeliverNew       bool `yaml:"deliver_new" doc:"on a first run (no position), starts at the messages published from then on instead of the stream's first message"`
	msgdecode.Config `yaml:",inline"`
}

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{
			Type:    "nats/nats",
			Summary: "messages from a NATS JetStream stream (durable pull consumer), acked after the checkpoint",
			Example: "source:\n  type: nats\n  connection: bus\n  stream: LEADS\n  subjects: [leads.>]\n  format: jsonl\n",
			Config: func() any {
				return &SourceConfig{AckWait: 30 * time.Second, FetchWait: time.Second, Config: msgdecode.Defaults()}
			},
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Source, error) { return NewSource(*cfg.(*SourceConfig), env) },
	})
}

// Position is where the source resumes: the stream sequence of the last
// message whose row is recorded.
type Position struct {
	StreamSeq uint64 `json:"stream_seq"`
}

// Source reads a stream through a durable pull consumer.
type Source struct {
	clock   etl.Clock // the run's (SourceEnv.Clock)
	cfg     SourceConfig
	conn    *ConnConfig
	baseDir string
	dec     *msgdecode.Decoder

	c        *connection
	consumer jetstream.Consumer
	log      *slog.Logger
	batch    int
	name     string
	// last is the stream sequence of the last message fetched; a
	// redelivery of a message at or before it is already held.
	last uint64
	// floor is the stream sequence the checkpoint recorded when the run
	// began: a message at or before it is loaded, only its ack was lost.
	floor uint64
	done  bool
	// ahead are messages fetched and not yet handed out (a recorded cut
	// ended the batch before them), with their stream sequences.
	ahead    []jetstream.Msg
	aheadSeq []uint64
	// cuts are the stream sequences at which batches were cut short (see
	// brokerconn.Cuts).
	cuts *brokerconn.Cuts
	// delivered is the consumer sequence of the last delivery (the
	// consumer's, at Open); lost is set when a later one skipped some
	// (lost in a reconnect).
	delivered uint64
	lost      bool

	mu sync.Mutex
	// held are the messages fetched and not yet acked, in order.
	held []jetstream.Msg
	// heldSeq are their stream sequences.
	heldSeq []uint64

	stop     chan struct{}
	progress sync.WaitGroup

	// onRedelivery, if set, is told of each message redelivered while held
	// (tests).
	onRedelivery func()
	// afterFetch, if set, is called after each fetch (tests).
	afterFetch func()
}

var (
	_ etl.Source = (*Source)(nil)
	_ etl.Acker  = (*Source)(nil)
)

// NewSource checks cfg; it does no I/O.
func NewSource(cfg SourceConfig, env etl.BuildEnv) (*Source, error) {
	if env.Connection == nil {
		return nil, errors.New("nats source: needs a connection")
	}
	conn, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("nats source: connection %s is %T, want a nats connection", env.Connection.Name, env.Connection.Config)
	}
	if cfg.AckWait < time.Second {
		return nil, &etl.FieldError{Path: []string{"ack_wait"}, Err: fmt.Errorf("%v: want at least 1s", cfg.AckWait)}
	}
	if cfg.FetchWait <= 0 {
		return nil, &etl.FieldError{Path: []string{"fetch_wait"}, Err: fmt.Errorf("%v: want more than 0", cfg.FetchWait)}
	}
	dec, err := msgdecode.New(cfg.Config)
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, conn: conn, baseDir: env.BaseDir, dec: dec}, nil
}

// Open connects and brings the durable consumer in step with the
// position: a consumer that delivered past it (a run that died holding
// messages) or that has not acked up to it (acks lost after the
// checkpoint) is created again at the message after it, so the messages
// come again in stream order and are cut into the same batches; the
// targets' replay protection then skips those they hold. With no position
// (a first run, after `state reset`) or with a full refresh, the consumer
// starts again at the stream's first message.
func (s *Source) Open(ctx context.Context, env etl.SourceEnv) error {
	s.log, s.batch, s.clock = env.Logger, env.BatchSize, etl.SystemClockOr(env.Clock)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.name = s.cfg.Consumer
	if s.name == "" {
		s.name = "nightjar-" + env.Job
	}
	var (
		pos *Position
		err error
	)
	if env.Position != nil && !env.FullRefresh {
		pos = new(Position)
		if err := json.Unmarshal(env.Position, pos); err != nil {
			return fmt.Errorf("nats: position %s: %w", env.Position, err)
		}
	}
	if s.cuts, err = brokerconn.LoadCuts(ctx, env.Notes, env.Clock, "source cuts"); err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	if pos != nil {
		s.cuts.Forget(func(cut string) bool { return cutSeq(cut) <= pos.StreamSeq })
	}
	c, err := connect(ctx, s.conn, s.baseDir, s.clock, s.log)
	if err != nil {
		return err
	}
	s.c = c
	st, err := c.stream(ctx, s.cfg.Stream)
	if err != nil {
		return err
	}
	if s.consumer, err = s.align(ctx, st, pos, env.FullRefresh); err != nil {
		return err
	}
	// The next delivery is the one after the consumer's last: a gap
	// before the run's first delivery is a loss too.
	s.delivered = s.consumer.CachedInfo().Delivered.Consumer
	if pos != nil {
		s.last, s.floor = pos.StreamSeq, pos.StreamSeq
	}
	s.stop = make(chan struct{})
	s.progress.Add(1)
	go s.keepInProgress()
	return nil
}

// align returns the durable consumer, created again when it is not in
// step with pos (see Open).
func (s *Source) align(ctx context.Context, st jetstream.Stream, pos *Position, fullRefresh bool) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable: s.name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: s.cfg.AckWait,
		MaxAckPending: -1, MaxDeliver: -1, MaxRequestBatch: 0,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Description:   "nightjar: acked after each checkpoint",
	}
	switch len(s.cfg.Subjects) {
	case 0:
	case 1:
		cfg.FilterSubject = s.cfg.Subjects[0]
	default:
		cfg.FilterSubjects = s.cfg.Subjects
	}
	switch {
	case pos != nil && pos.StreamSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, pos.StreamSeq+1
	case s.cfg.DeliverNew && !fullRefresh:
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	if st.CachedInfo().Config.Retention == jetstream.WorkQueuePolicy {
		// A work queue holds only what is not acked, and takes no start
		// sequence: its first message is where to start, and those at or
		// before the checkpoint are acked as they come (see Next).
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverAllPolicy, 0
	}
	existing, err := st.Consumer(ctx, s.name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	case err != nil:
		return nil, fmt.Errorf("nats: consumer %q of stream %q: %w", s.name, s.cfg.Stream, err)
	default:
		info := existing.CachedInfo()
		inStep := !fullRefresh && info.NumAckPending == 0 && info.NumRedelivered == 0 &&
			((pos == nil && info.Delivered.Stream == 0) || (pos != nil && info.Delivered.Stream == pos.StreamSeq && info.AckFloor.Stream == pos.StreamSeq))
		if inStep {
			return existing, nil
		}
		if cfg.OptStartSeq > 0 && info.AckFloor.Stream < pos.StreamSeq {
			// Acks lost after the checkpoint: those messages are taken
			// again and acked at once (see Next), so that a stream that
			// keeps messages until they are acked (work queue, interest)
			// lets them go.
			cfg.OptStartSeq = info.AckFloor.Stream + 1
		}
		s.log.Info("nats: consumer is not in step with the checkpoint: created again",
			"consumer", s.name, "delivered", info.Delivered.Stream, "ack_floor", info.AckFloor.Stream,
			"ack_pending", info.NumAckPending, "from", cfg.OptStartSeq)
		if err := st.DeleteConsumer(ctx, s.name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("nats: delete consumer %q: %w", s.name, err)
		}
	}
	cons, err := st.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("nats: create consumer %q on stream %q: %w", s.name, s.cfg.Stream, err)
	}
	return cons, nil
}

// Next fetches up to the batch size of messages; it cuts a batch short
// where a run before cut it (a recorded cut: see brokerconn.Cuts), or when
// a fetch waited FetchWait and the consumer had no more, and then records
// the cut before it hands the batch out. A fetch that finds none ends the
// input.
func (s *Source) Next(ctx context.Context) (*etl.Batch, error) {
	if s.done {
		return nil, etl.ErrEndOfInput
	}
	msgs := make([]jetstream.Msg, 0, s.batch)
	seqs := make([]uint64, 0, s.batch)
	cut := false
	for len(msgs) < s.batch && !cut {
		if len(s.ahead) > 0 {
			m, seq := s.ahead[0], s.aheadSeq[0]
			s.ahead, s.aheadSeq = s.ahead[1:], s.aheadSeq[1:]
			msgs, seqs = append(msgs, m), append(seqs, seq)
			cut = s.cuts.Len() > 0 && s.cuts.Has(strconv.FormatUint(seq, 10))
			continue
		}
		if s.lost {
			// Deliveries were lost in a reconnect: the messages after
			// them are not handed out (they come again next run), so no
			// checkpoint passes the lost ones. Nor are those of the batch
			// begun before them: cut short here, it could end elsewhere
			// than the batch an earlier run loaded from the same place
			// (full, or cut later), and its replay would get another
			// batch key and be loaded twice. They come again next run.
			s.done = true
			return nil, etl.ErrEndOfInput
		}
		n, err := s.fetch(s.batch - len(msgs))
		if err != nil {
			return nil, err
		}
		if n == 0 && len(msgs) > 0 {
			// A batch is cut short only at the end of what the stream
			// holds: a slow fetch is tried again.
			info, err := s.consumer.Info(ctx)
			if err != nil {
				return nil, fmt.Errorf("nats: consumer %q: %w", s.name, err)
			}
			if info.NumPending > 0 {
				continue
			}
			if err := s.cuts.Record(ctx, strconv.FormatUint(seqs[len(seqs)-1], 10)); err != nil {
				return nil, fmt.Errorf("nats: %w", err)
			}
			cut = true
		}
		if n == 0 {
			break
		}
	}
	if len(msgs) == 0 {
		s.done = true
		return nil, etl.ErrEndOfInput
	}
	return s.decode(ctx, msgs, seqs)
}

// fetch fetches up to max messages into ahead (and held) and says how many
// the server delivered: those the checkpoint recorded (their acks lost)
// are acked and dropped, redeliveries of messages held are dropped.
func (s *Source) fetch(max int) (int, error) {
	got, err := s.consumer.Fetch(max, jetstream.FetchMaxWait(s.cfg.FetchWait))
	if err != nil {
		return 0, fmt.Errorf("nats: fetch from %q: %w", s.name, err)
	}
	n := 0
	for m := range got.Messages() {
		n++
		meta, err := m.Metadata()
		if err != nil {
			return 0, fmt.Errorf("nats: message on %s: %w", m.Subject(), err)
		}
		if s.lost {
			continue
		}
		if meta.Sequence.Consumer > s.delivered+1 {
			s.log.Warn("nats: deliveries lost in a reconnect; the run ends before them, the next one reads them",
				"consumer_seq", meta.Sequence.Consumer, "after", s.delivered)
			s.lost = true
			continue
		}
		s.delivered = meta.Sequence.Consumer
		if meta.Sequence.Stream <= s.floor {
			// Recorded by the checkpoint, its ack lost: let it go.
			if err := m.Ack(); err != nil {
				return 0, fmt.Errorf("nats: ack stream seq %d, recorded before: %w", meta.Sequence.Stream, err)
			}
			continue
		}
		if meta.Sequence.Stream <= s.last {
			// Redelivered while held (its ack wait ran out): the copy
			// held is acked after its checkpoint.
			s.log.Warn("nats: message redelivered while held; skipped", "stream_seq", meta.Sequence.Stream)
			if s.onRedelivery != nil {
				s.onRedelivery()
			}
			continue
		}
		s.last = meta.Sequence.Stream
		s.ahead, s.aheadSeq = append(s.ahead, m), append(s.aheadSeq, meta.Sequence.Stream)
		s.mu.Lock()
		s.held, s.heldSeq = append(s.held, m), append(s.heldSeq, meta.Sequence.Stream)
		s.mu.Unlock()
	}
	if err := got.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		return 0, fmt.Errorf("nats: fetch from %q: %w", s.name, err)
	}
	if s.afterFetch != nil {
		s.afterFetch()
	}
	return n, nil
}

// cutSeq is the stream sequence of a recorded cut.
func cutSeq(cut string) uint64 {
	seq, _ := strconv.ParseUint(cut, 10, 64)
	return seq
}

// decode turns msgs into one batch, or several when their payloads change
// shape (a CSV header): the position of each is its last message's.
func (s *Source) decode(ctx context.Context, msgs []jetstream.Msg, seqs []uint64) (*etl.Batch, error) {
	in := make([]msgdecode.Message, len(msgs))
	var bytes int64
	for i, m := range msgs {
		in[i] = msgdecode.Message{Payload: m.Data(), Subject: m.Subject(), Headers: m.Headers(), Seq: seqs[i],
			Origin: fmt.Sprintf("nats stream %s seq %d", s.cfg.Stream, seqs[i])}
		bytes += int64(len(m.Data()))
	}
	b, n, err := s.dec.Decode(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	if n < len(msgs) {
		// The rest come again: forget them as read so Next fetches them.
		// They are held (and acked) only once.
		return nil, fmt.Errorf("nats: messages %d to %d change shape within one batch; use format jsonl or one CSV header per stream", seqs[0], seqs[len(seqs)-1])
	}
	b.Position, _ = json.Marshal(Position{StreamSeq: seqs[len(seqs)-1]})
	b.Bytes = bytes
	return b, nil
}

// Ack acks every held message up to pos: the checkpoint that passes them
// has committed. It waits until the server has read the acks.
func (s *Source) Ack(ctx context.Context, pos etl.Position) error {
	var p Position
	if pos == nil {
		return nil
	}
	if err := json.Unmarshal(pos, &p); err != nil {
		return fmt.Errorf("nats: position %s: %w", pos, err)
	}
	s.mu.Lock()
	n := 0
	for n < len(s.heldSeq) && s.heldSeq[n] <= p.StreamSeq {
		n++
	}
	acked := s.held[:n]
	s.held, s.heldSeq = s.held[n:], s.heldSeq[n:]
	s.mu.Unlock()
	s.cuts.Forget(func(cut string) bool { return cutSeq(cut) <= p.StreamSeq })
	if len(acked) == 0 {
		return nil
	}
	for _, m := range acked {
		if err := m.Ack(); err != nil {
			return fmt.Errorf("nats: ack up to stream seq %d: %w", p.StreamSeq, err)
		}
	}
	if err := s.flush(ctx); err != nil {
		return fmt.Errorf("nats: ack up to stream seq %d: %w", p.StreamSeq, err)
	}
	return nil
}

// flush waits until the server has read what was sent. A reconnect cuts a
// flush short ("connection closed") though the client keeps what it sends
// meanwhile and sends it once connected: the flush is tried again, with the
// shared backoff, for the connection's timeout.
func (s *Source) flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.conn.timeout())
	defer cancel()
	bo := etl.DefaultBackoff.NewBackOff()
	for {
		err := s.c.nc.FlushWithContext(ctx)
		if err == nil || s.c.nc.IsClosed() {
			return err
		}
		if etl.Sleep(ctx, s.clock, bo.NextBackOff()) != nil {
			return fmt.Errorf("%s unreachable: %w", s.c.url, err)
		}
	}
}

// keepInProgress tells the server, every third of the ack wait, that the
// messages held are still being worked on, so a batch that takes longer
// than the ack wait (a slow target, a long transaction) is not redelivered.
func (s *Source) keepInProgress() {
	defer s.progress.Done()
	t := s.clock.NewTimer(s.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C():
		}
		t.Reset(s.cfg.AckWait / 3)
		s.mu.Lock()
		held := append([]jetstream.Msg(nil), s.held...)
		s.mu.Unlock()
		for _, m := range held {
			if err := m.InProgress(); err != nil {
				s.log.Warn("nats: in-progress ack", "err", err)
				break
			}
		}
	}
}

// Close stops the in-progress acks and closes the connection; messages
// still held (not checkpointed) are redelivered to the next run.
func (s *Source) Close(ctx context.Context) error {
	if s.stop != nil {
		close(s.stop)
		s.progress.Wait()
		s.stop = nil
	}
	var err error
	if s.cuts != nil {
		err = s.cuts.Save(ctx)
	}
	if s.c != nil {
		if s.c.nc.IsConnected() {
			_ = s.c.nc.Flush()
		}
		s.c.close()
		s.c = nil
	}
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	return nil
}
