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
// messages came meanwhile. Each message's row is in the table once.
func TestReplayCutsBatchesAsBefore(t *testing.T) {
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			b := setup(t)
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
				Source: func() etl.Source { return b.source(t, SourceConfig{FetchWait: 50 * time.Millisecond}) },
			}.Run(t)
		})
	}
}
