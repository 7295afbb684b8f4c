package hubspot_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/nightjar-etl/nightjar/connectors/hubspot"
	"github.com/nightjar-etl/nightjar/etl"
)

// BenchmarkRateLimitedUpsert measures records/s to an emulator that allows
// 20 requests per second (a bucket of 20) and answers 429 beyond, with
// nightjar's limit configured to the same 20/s: the ceiling is 2,000
// records/s at 100 inputs per request.
func BenchmarkRateLimitedUpsert(b *testing.B) {
	em := newEmulator(b, testToken)
	em.limiter = rate.NewLimiter(20, 20)
	conn := connection(em.URL)
	cc := conn.Config.(*hubspot.ConnConfig)
	cc.RateLimit.Requests, cc.RateLimit.Per = 20, time.Second
	tg, err := hubspot.New(contactsCfg, etl.BuildEnv{Connection: conn})
	if err != nil {
		b.Fatal(err)
	}
	if err := tg.Open(context.Background(), etl.TargetEnv{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	const perBatch = 4000 // 40 requests, about 2 s
	batches := make([]*etl.Batch, b.N)
	for i := range batches {
		batches[i] = leadBatch(perBatch, fmt.Sprintf(`"%d"`, i))
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if err := tg.Write(context.Background(), batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	records := float64(b.N * perBatch)
	b.ReportMetric(records/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(em.count(func(e *emulator) int { return e.throttled })), "429s")
	b.ReportMetric(100*records/elapsed.Seconds()/2000, "%of-limit")
}
