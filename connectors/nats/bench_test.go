package nats

import (
	"context"
	"fmt"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// BenchmarkRunnerRead runs a job reading b.N JSON messages from a stream
// through the source (fetch, decode, checkpoint, ack) into a target that
// only keeps the batches: the source's own cost, without a database's.
func BenchmarkRunnerRead(b *testing.B) {
	t := &testing.T{}
	bd := setup(t)
	if t.Skipped() {
		b.Skip("NIGHTJAR_TEST_NATS is not set")
	}
	defer func() { _ = bd.js.DeleteStream(context.Background(), bd.stream) }()
	for i := 1; i <= b.N; i++ {
		if _, err := bd.js.PublishAsync(bd.prefix+".x", fmt.Appendf(nil, `{"id":%d,"email":"lead%d@example.com"}`, i, i)); err != nil {
			b.Fatal(err)
		}
	}
	<-bd.js.PublishAsyncComplete()
	src := bd.source(t, SourceConfig{})
	tg := &etltest.Target{}
	job := &etl.Job{Name: "bench", Source: src, BatchSize: 1000, Targets: []etl.NamedTarget{{Name: "t", Target: tg}}}
	b.ResetTimer()
	run, err := runner(t).Run(context.Background(), job, etl.RunOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if run.Counters.Written != int64(b.N) {
		b.Fatalf("wrote %d of %d", run.Counters.Written, b.N)
	}
}
