package nats

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/brokertest"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestReplayCutsBatchesAsBefore searches for a replay that cuts a batch
// differently: messages published in random bursts while a job loads them
// into an append table, crashing at random (before a commit, or between a
// commit and its checkpoint) and run again; batches cut short because the
// stream had no more must be cut the same way when replayed, though more
// messages came meanwhile; the connection is cut at random moments too.
// Each message's row is in the table once.
func TestReplayCutsBatchesAsBefore(t *testing.T) {
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			b := setup(t)
			var cur *Source // the source of the run going on
			brokertest.ReplaySearch{
				Seed: rand.Uint64(), Messages: 300, BatchSize: 10, Pause: 150 * time.Millisecond,
				Publish: func(ids []int) error {
					for _, id := range ids {
						if _, err := b.js.Publish(context.Background(), b.prefix+".events", fmt.Appendf(nil, `{"id":%d}`, id)); err != nil {
							return err
						}
					}
					return nil
				},
				Source: func() etl.Source {
					cur = b.source(t, SourceConfig{FetchWait: 50 * time.Millisecond})
					return cur
				},
				// The client reconnects by itself; the acks it holds
				// meanwhile go once it is back.
				Drop: func() {
					if c := cur.c; c != nil {
						_ = c.nc.ForceReconnect()
					}
				},
				// A run that dies before its ack keeps its connection
				// a while, as a killed process's lingers at the server.
				Abandon: func(src etl.Source, after time.Duration) {
					dead := src.(*Source)
					time.AfterFunc(after, func() {
						if c := dead.c; c != nil {
							c.nc.Close()
						}
					})
				},
				After: func(t *testing.T, _ int) {
					cons, err := b.js.Consumer(context.Background(), b.stream, "nightjar-replay")
					if err != nil {
						t.Fatal(err)
					}
					info, err := cons.Info(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					if info.NumPending != 0 || info.NumAckPending != 0 || info.AckFloor.Stream != 300 {
						t.Errorf("consumer: %d pending, %d awaiting an ack, ack floor %d; want 0, 0, 300", info.NumPending, info.NumAckPending, info.AckFloor.Stream)
					}
				},
			}.Run(t)
		})
	}
}
