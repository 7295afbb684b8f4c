package rabbitmq

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/nightjar-etl/nightjar/connectors/internal/brokertest"
	"github.com/nightjar-etl/nightjar/connectors/internal/msgdecode"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestReplayCutsBatchesAsBefore searches for a replay that cuts a batch
// differently: messages published in random bursts while a job loads them
// into an append table, crashing at random (before a commit, or between a
// commit and its checkpoint, or dying between a checkpoint and its ack,
// its connection left for a while) and run again; the queue gives the messages
// not acked back, with new ones behind them, and batches cut short because
// the queue had no more must be cut the same way. Each message's row is in
// the table once.
func TestReplayCutsBatchesAsBefore(t *testing.T) {
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			ch, conn, queue := setup(t)
			if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
				t.Fatal(err)
			}
			// cur is the source of the run going on; reconnects counts those
			// of the runs before.
			var (
				cur        *Source
				reconnects int64
			)
			brokertest.ReplaySearch{
				Seed: rand.Uint64(), Messages: 300, BatchSize: 10, Pause: 150 * time.Millisecond,
				Publish: func(ids []int) error {
					for _, id := range ids {
						msg := amqp.Publishing{Body: fmt.Appendf(nil, `{"id":%d}`, id)}
						if id%2 == 0 {
							// Half with a message-id, half named by their body.
							msg.MessageId = fmt.Sprint("m", id)
						}
						if err := ch.PublishWithContext(context.Background(), "", queue, false, false, msg); err != nil {
							return err
						}
					}
					return nil
				},
				Source: func() etl.Source {
					src, err := NewSource(SourceConfig{Queue: queue, FetchWait: 50 * time.Millisecond, Config: msgdecode.Defaults()}, etl.BuildEnv{Connection: conn})
					if err != nil {
						t.Fatal(err)
					}
					if cur != nil {
						reconnects += cur.reconnects.Load()
					}
					cur = src
					return src
				},
				Drop: func() {
					cur.mu.Lock()
					defer cur.mu.Unlock()
					if cur.c != nil && cur.c.raw != nil {
						cur.c.raw.Close()
					}
				},
				Abandon: func(src etl.Source, after time.Duration) {
					dead := src.(*Source)
					time.AfterFunc(after, func() {
						dead.mu.Lock()
						defer dead.mu.Unlock()
						if dead.c != nil && dead.c.raw != nil {
							dead.c.raw.Close()
						}
					})
				},
				After: func(t *testing.T, drops int) {
					q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
					if err != nil {
						t.Fatal(err)
					}
					if q.Messages != 0 {
						t.Errorf("queue holds %d messages; want none (each acked)", q.Messages)
					}
					if drops > 0 && reconnects+cur.reconnects.Load() == 0 {
						t.Errorf("%d connections cut, no reconnect", drops)
					}
				},
			}.Run(t)
		})
	}
}
