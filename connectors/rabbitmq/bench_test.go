package rabbitmq

import (
	"context"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/nightjar-etl/nightjar/connectors/internal/msgdecode"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// BenchmarkRunnerRead runs a job reading b.N JSON messages from a queue
// through the source (deliveries, decode, checkpoint, multiple-ack) into a
// target that only keeps the batches: the source's own cost, without a
// database's. bench/amqp.sh measures the whole job against a plain loop.
func BenchmarkRunnerRead(b *testing.B) {
	t := &testing.T{}
	ch, conn, queue := setup(t)
	if t.Skipped() {
		b.Skip("NIGHTJAR_TEST_AMQP is not set")
	}
	defer func() { _, _ = ch.QueueDelete(queue, false, false, false) }()
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	for i := 1; i <= b.N; i++ {
		if err := ch.PublishWithContext(context.Background(), "", queue, false, false,
			amqp.Publishing{Body: fmt.Appendf(nil, `{"id":%d,"email":"lead%d@example.com"}`, i, i)}); err != nil {
			b.Fatal(err)
		}
	}
	src, err := NewSource(SourceConfig{Queue: queue, FetchWait: 200 * time.Millisecond, Config: msgdecode.Defaults()}, etl.BuildEnv{Connection: conn})
	if err != nil {
		b.Fatal(err)
	}
	store, err := sqlitestore.Open(context.Background(), b.TempDir()+"/state.db")
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	job := &etl.Job{Name: "bench", Source: src, BatchSize: 1000, Targets: []etl.NamedTarget{{Name: "t", Target: &etltest.Target{}}}}
	b.ResetTimer()
	run, err := (&etl.Runner{Store: store}).Run(context.Background(), job, etl.RunOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if run.Counters.Written != int64(b.N) {
		b.Fatalf("wrote %d of %d", run.Counters.Written, b.N)
	}
}
