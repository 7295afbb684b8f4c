package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/nightjar-etl/nightjar/connectors/internal/msgdecode"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestRunAfterAKilledRunHeldTheQueue: a run dies holding messages (its
// last checkpoint committed, its ack never sent) and the next run starts
// before the broker noticed: the dead run's consumer still holds its
// messages for a while (dead), then the broker gives them back. The next
// run must read the messages after the checkpoint once each, in order,
// and none before it: were it to consume the messages behind the held
// ones first, or give up waiting for the ones given back, it would load
// the checkpointed messages again as new batches (other batch keys, so
// no target's replay marker stops them). Searches the batch size, the
// batches checkpointed and held, the messages behind and the delay,
// seed logged.
func TestRunAfterAKilledRunHeldTheQueue(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 21))
	for round := range 4 {
		batch := 5 + rng.IntN(10)
		prefetch := batch * (2 + rng.IntN(3))
		held := 1 + rng.IntN(prefetch/batch) // batches run A read
		recorded := rng.IntN(held + 1)       // of them, checkpointed
		behind := rng.IntN(3 * batch)
		dead := time.Duration(200+rng.IntN(600)) * time.Millisecond
		n := prefetch + behind
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			t.Logf("%d messages, batches of %d, prefetch %d; run A read %d batches, checkpointed %d; its consumer dies %v after run B starts",
				n, batch, prefetch, held, recorded, dead)
			ch, conn, queue := setup(t)
			if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= n; i++ {
				if err := ch.PublishWithContext(context.Background(), "", queue, false, false, amqp.Publishing{
					MessageId: "m" + strconv.Itoa(i), Body: fmt.Appendf(nil, `{"id":%d}`, i)}); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			open := func(pos etl.Position) *Source {
				src, err := NewSource(SourceConfig{Queue: queue, Prefetch: prefetch, FetchWait: 100 * time.Millisecond, Config: msgdecode.Defaults()}, etl.BuildEnv{Connection: conn})
				if err != nil {
					t.Fatal(err)
				}
				if err := src.Open(ctx, etl.SourceEnv{Job: "j", BatchSize: batch, Position: pos}); err != nil {
					t.Fatal(err)
				}
				return src
			}
			a := open(nil)
			defer a.Close(ctx)
			var pos etl.Position
			for i := range held {
				b, err := a.Next(ctx)
				if err != nil {
					t.Fatalf("run A, batch %d: %v", i+1, err)
				}
				if i < recorded {
					pos = b.Position
				}
			}
			// Run A dies: its connection stays open (the broker has not
			// noticed yet) until dead has passed.
			cut := time.AfterFunc(dead, func() {
				a.mu.Lock()
				defer a.mu.Unlock()
				a.c.raw.Close()
			})
			defer cut.Stop()
			b := open(pos)
			defer b.Close(ctx)
			seen := map[int]int{}
			var order []int
			for {
				bt, err := b.Next(ctx)
				if errors.Is(err, etl.ErrEndOfInput) {
					break
				}
				if err != nil {
					t.Fatalf("run B: %v", err)
				}
				ids := bt.Col("id")
				for r := range bt.Len() {
					text, _ := ids.Text(r)
					id, err := strconv.Atoi(text)
					if err != nil {
						t.Fatal(err)
					}
					seen[id]++
					order = append(order, id)
				}
				if err := b.Ack(ctx, bt.Position); err != nil {
					t.Fatal(err)
				}
			}
			first := recorded*batch + 1
			for i, id := range order {
				if id != first+i {
					t.Fatalf("run B read ids %v; want %d..%d once each, in order (ids up to %d were checkpointed by run A)", order, first, n, first-1)
				}
			}
			if len(order) != n-first+1 {
				t.Fatalf("run B read ids %v; want %d..%d", order, first, n)
			}
		})
	}
}

// TestAnotherConsumerFailsTheRun: the source is the queue's only consumer:
// with another one on the queue, Open waits for it to go (a dead run's,
// the broker not yet aware) and then fails, naming the queue; while the
// source consumes, another consumer is refused.
func TestAnotherConsumerFailsTheRun(t *testing.T) {
	ch, conn, queue := setup(t)
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	// Heartbeats of 1 s: the wait is bounded by three of them, or the
	// connect timeout if longer.
	cc := *conn.Config.(*ConnConfig)
	cc.URL += "?heartbeat=1"
	cc.ConnectTimeout = time.Second
	conn = &etl.Connection{Name: "rabbit", Type: "amqp", Config: &cc}
	ctx := context.Background()
	open := func() (*Source, error) {
		src, err := NewSource(SourceConfig{Queue: queue, FetchWait: 100 * time.Millisecond, Config: msgdecode.Defaults()}, etl.BuildEnv{Connection: conn})
		if err != nil {
			t.Fatal(err)
		}
		return src, src.Open(ctx, etl.SourceEnv{Job: "j", BatchSize: 10})
	}

	if _, err := ch.Consume(queue, "other", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	src, err := open()
	src.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), queue) || !strings.Contains(err.Error(), "1 consumers") {
		t.Fatalf("open with another consumer on the queue: %v; want an error naming the queue and the consumer", err)
	}
	t.Log(err)
	if waited := time.Since(start); waited < 3*time.Second {
		t.Fatalf("open failed after %v; want it to wait 3 heartbeats (3s) for the consumer to go", waited)
	}
	if err := ch.Cancel("other", false); err != nil {
		t.Fatal(err)
	}

	src, err = open()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	other, err := connect(ctx, &cc, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.close()
	if _, err := other.ch.Consume(queue, "other", false, false, false, false, nil); err == nil || !strings.Contains(err.Error(), "exclusive") {
		t.Fatalf("another consumer while the source consumes: %v; want it refused (exclusive use)", err)
	}
}
