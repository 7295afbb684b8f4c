package nats

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nightjar-etl/nightjar/connectors/internal/msgdecode"
	_ "github.com/nightjar-etl/nightjar/connectors/jsonfile"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

type bundle struct {
	js     jetstream.JetStream
	conn   *etl.Connection
	stream string
	prefix string
}

// setup connects to NIGHTJAR_TEST_NATS and creates a stream of the test's
// own, capturing "<prefix>.>", removed after it.
func setup(t *testing.T) bundle {
	t.Helper()
	url := os.Getenv("NIGHTJAR_TEST_NATS")
	if url == "" {
		t.Skip("NIGHTJAR_TEST_NATS is not set (e.g. nats://127.0.0.1:4222)")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	suffix := strconv.FormatUint(rand.Uint64(), 36)
	b := bundle{js: js, stream: "NJT_" + suffix, prefix: "njt" + suffix,
		conn: &etl.Connection{Name: "bus", Type: "nats", Config: &ConnConfig{URL: url}}}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: b.stream, Subjects: []string{b.prefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), b.stream) })
	return b
}

func (b bundle) publish(t *testing.T, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if _, err := b.js.Publish(context.Background(), b.prefix+".leads", fmt.Appendf(nil, `{"id":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
}

func (b bundle) source(t *testing.T, cfg SourceConfig) *Source {
	t.Helper()
	cfg.Stream = b.stream
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.FetchWait == 0 {
		cfg.FetchWait = 200 * time.Millisecond
	}
	cfg.Config = msgdecode.Defaults()
	s, err := NewSource(cfg, etl.BuildEnv{Connection: b.conn})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runner(t *testing.T) *etl.Runner {
	t.Helper()
	store, err := sqlitestore.Open(context.Background(), t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &etl.Runner{Store: store}
}

// ids returns the id field of every row the target received, in order.
func ids(t *testing.T, tg *etltest.Target) []int64 {
	t.Helper()
	var out []int64
	for _, b := range tg.Written {
		col := b.Col("id")
		if col == nil {
			t.Fatalf("batch without id: %v", b.Schema)
		}
		out = append(out, col.Int...)
	}
	return out
}

// TestSlowBatchNotRedelivered: batches that take longer than the
// consumer's ack wait (1 s) to write are not redelivered, because the
// source keeps telling the server they are in progress; every message is
// read once and acked at the end.
func TestSlowBatchNotRedelivered(t *testing.T) {
	b := setup(t)
	// More messages than the pipeline holds at once (about four batches),
	// so that the source fetches again while earlier ones are held past
	// their ack wait.
	b.publish(t, 30)
	src := b.source(t, SourceConfig{AckWait: time.Second})
	var redelivered atomic.Int64
	src.onRedelivery = func() { redelivered.Add(1) }
	tg := &etltest.Target{WriteHook: func(*etl.Batch) error { time.Sleep(1200 * time.Millisecond); return nil }}
	job := &etl.Job{Name: "slow", Source: src, BatchSize: 5, Targets: []etl.NamedTarget{{Name: "slow", Target: tg}}}
	if _, err := runner(t).Run(context.Background(), job, etl.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	got := ids(t, tg)
	if len(got) != 30 {
		t.Fatalf("%d rows, want 30: %v", len(got), got)
	}
	if n := redelivered.Load(); n != 0 {
		t.Fatalf("%d messages redelivered while held; want none (in-progress acks)", n)
	}
	info, err := b.js.Consumer(context.Background(), b.stream, "nightjar-slow")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := info.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumAckPending != 0 || ci.NumPending != 0 || ci.AckFloor.Stream != 30 {
		t.Fatalf("consumer: %d awaiting an ack, %d pending, ack floor %d; want 0, 0, 30", ci.NumAckPending, ci.NumPending, ci.AckFloor.Stream)
	}
}

// TestTargetReplayIsSkipped: a batch written twice (a replay after a
// crash: the same batch key) is stored once; the second time its rows are
// counted as skipped, and a different batch is stored.
// target opens a nats target publishing to "<prefix>.out" over conn, 8
// in flight, closed after the test.
func (b bundle) target(t *testing.T, conn *etl.Connection) *Target {
	t.Helper()
	tg, err := NewTarget(TargetConfig{Subject: b.prefix + ".out", Per: "record", MaxInFlight: 8}, etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Open(context.Background(), etl.TargetEnv{Job: "pub", Name: "bus"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// idBatch is batch seq of load "load1": 50 rows, ids 0 to 49.
func idBatch(seq int64) *etl.Batch {
	rows := make([][]string, 50)
	for i := range rows {
		rows[i] = []string{strconv.Itoa(i)}
	}
	bt := etltest.StringBatch("in.csv", 2, `{"line":`+strconv.FormatInt(seq, 10)+`}`, []string{"id"}, rows...)
	bt.Seq, bt.Load = seq, "load1"
	return bt
}

func TestTargetReplayIsSkipped(t *testing.T) {
	b := setup(t)
	tg := b.target(t, b.conn)
	ctx := context.Background()
	for i, c := range []struct {
		seq                    int64
		published, skippedRows int64
	}{{1, 50, 0}, {1, 50, 50}, {2, 100, 0}} {
		if err := tg.Write(ctx, idBatch(c.seq)); err != nil {
			t.Fatal(err)
		}
		if s := tg.TakeSkipped(); tg.Published != c.published || s != c.skippedRows {
			t.Fatalf("write %d: published %d, skipped %d; want %d, %d", i+1, tg.Published, s, c.published, c.skippedRows)
		}
	}
	st, err := b.js.Stream(ctx, b.stream)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 100 {
		t.Fatalf("stream holds %d messages; want 100", n)
	}
}

// TestMissingStream: a stream that does not exist fails Open, naming it.
func TestMissingStream(t *testing.T) {
	b := setup(t)
	src := b.source(t, SourceConfig{})
	src.cfg.Stream = "NO_SUCH_STREAM_" + b.stream
	err := src.Open(context.Background(), etl.SourceEnv{Job: "x", BatchSize: 10})
	defer src.Close(context.Background())
	if err == nil || !etl.IsPermanent(err) {
		t.Fatalf("open: %v; want a permanent error naming the stream", err)
	}
	t.Log(err)
}

// TestUnreachableServer: a server that does not answer fails Open after
// its attempts, naming the server without its password.
func TestUnreachableServer(t *testing.T) {
	conn := &etl.Connection{Name: "bus", Type: "nats", Config: &ConnConfig{URL: "nats://nightjar:s3cret-pw@127.0.0.1:1", ConnectAttempts: 2}}
	cfg := SourceConfig{Stream: "X", AckWait: time.Second, FetchWait: time.Second, Config: msgdecode.Defaults()}
	src, err := NewSource(cfg, etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	err = src.Open(context.Background(), etl.SourceEnv{Job: "x", BatchSize: 10})
	defer src.Close(context.Background())
	if err == nil {
		t.Fatal("open succeeded")
	}
	msg := err.Error()
	if !contains(msg, "127.0.0.1:1") || contains(msg, "s3cret-pw") || !contains(msg, "after 2 attempts") {
		t.Fatalf("error %q: want the server, the attempts, and no password", msg)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestDeliveriesLostMidBatch: deliveries lost in the middle of a batch
// (to a pull request whose connection died) end the run before the batch:
// cut short there, it could end elsewhere than the batch a run before
// loaded from the same place, and get another batch key (a replay search
// found rows loaded twice that way). The next run reads every message
// once.
func TestDeliveriesLostMidBatch(t *testing.T) {
	b := setup(t)
	b.publish(t, 3)
	ctx := context.Background()
	src := b.source(t, SourceConfig{FetchWait: 100 * time.Millisecond})
	fetches := 0
	src.afterFetch = func() {
		if fetches++; fetches == 1 {
			// Three more, the first of them taken by another pull never
			// heard of again.
			for i := 4; i <= 6; i++ {
				if _, err := b.js.Publish(ctx, b.prefix+".leads", fmt.Appendf(nil, `{"id":%d}`, i)); err != nil {
					t.Error(err)
				}
			}
			takeDeliveries(t, b, "nightjar-lost", 1)
		}
	}
	if err := src.Open(ctx, etl.SourceEnv{Job: "lost", BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	endsBeforeTheLoss(t, src, "a delivery lost mid-batch")
	readsAllOnce(t, b, "lost", 6)
}

// endsBeforeTheLoss fails t unless the open source's next batch is the
// end of input (what the loss is says the message), then closes it.
func endsBeforeTheLoss(t *testing.T, src *Source, loss string) {
	t.Helper()
	ctx := context.Background()
	batch, err := src.Next(ctx)
	if !errors.Is(err, etl.ErrEndOfInput) {
		t.Errorf("after %s: batch of %d rows (err %v), want the end of input", loss, batchLen(batch), err)
	}
	if err := src.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// takeDeliveries takes n deliveries of the durable consumer, as a pull
// request whose connection died does: never acked, never heard of again.
func takeDeliveries(t *testing.T, b bundle, consumer string, n int) {
	t.Helper()
	cons, err := b.js.Consumer(context.Background(), b.stream, consumer)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cons.Fetch(n, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	taken := 0
	for range got.Messages() {
		taken++
	}
	if taken != n {
		t.Fatalf("the other pull took %d messages, want %d", taken, n)
	}
}

// readsAllOnce runs job once more and fails t unless it reads the ids
// 1..n once each.
func readsAllOnce(t *testing.T, b bundle, job string, n int) {
	t.Helper()
	tg := &etltest.Target{}
	j := &etl.Job{Name: job, Source: b.source(t, SourceConfig{FetchWait: 100 * time.Millisecond}), BatchSize: 10,
		Targets: []etl.NamedTarget{{Name: "t", Target: tg}}}
	if _, err := runner(t).Run(context.Background(), j, etl.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	got := ids(t, tg)
	slices.Sort(got)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the next run read %v, want %v", got, want)
	}
}

// TestDeliveriesLostBeforeTheFirst: deliveries lost before the run's
// first (to a pull request whose connection died) are a gap in the
// consumer's sequence like any other: the run hands out nothing past
// them, and the next run reads every message once. Counting the gap only
// from the run's first delivery passed them: the checkpoint after 3..10
// would leave 1 and 2 behind for good.
func TestDeliveriesLostBeforeTheFirst(t *testing.T) {
	b := setup(t)
	b.publish(t, 10)
	ctx := context.Background()
	src := b.source(t, SourceConfig{FetchWait: 100 * time.Millisecond})
	if err := src.Open(ctx, etl.SourceEnv{Job: "lost", BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	// Another pull takes the first two deliveries and is never heard of
	// again.
	takeDeliveries(t, b, "nightjar-lost", 2)
	endsBeforeTheLoss(t, src, "2 deliveries lost")
	readsAllOnce(t, b, "lost", 10)
}

func batchLen(b *etl.Batch) int {
	if b == nil {
		return 0
	}
	return b.Len()
}
