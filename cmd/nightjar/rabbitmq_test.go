package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// testQueue connects to NIGHTJAR_TEST_AMQP and declares a durable queue of
// the test's own, deleted after it.
func testQueue(t *testing.T) (ch *amqp.Channel, url, queue string) {
	t.Helper()
	url = os.Getenv("NIGHTJAR_TEST_AMQP")
	if url == "" {
		t.Skip("NIGHTJAR_TEST_AMQP is not set (e.g. amqp://guest:guest@127.0.0.1:5672/)")
	}
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if ch, err = conn.Channel(); err != nil {
		t.Fatal(err)
	}
	queue = "nj-" + strconv.FormatUint(rand.Uint64(), 36)
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = ch.QueueDelete(queue, false, false, false) })
	return ch, url, queue
}

// TestRabbitMQConsumerKilled: messages in a queue, the consuming job
// SIGKILLed at random moments and run again until a run completes: each
// message's row is in the append table exactly once, and the queue is
// empty (every message acked).
func TestRabbitMQConsumerKilled(t *testing.T) {
	ch, url, queue := testQueue(t)
	n := brokerMessages(t, 5000)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 1; i <= n; i++ {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, MessageId: "m" + strconv.Itoa(i), Body: fmt.Appendf(nil, `{"id":%d,"name":"lead %d"}`, i, i)})
		if err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 || i == n {
			if ok, err := dc.WaitContext(ctx); !ok || err != nil {
				t.Fatalf("confirm %d: %v %v", i, ok, err)
			}
		}
	}
	seed := rand.Uint64()
	t.Logf("seed %d, %d messages", seed, n)
	rng := rand.New(rand.NewPCG(seed, 3))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, fmt.Sprintf(`connections:
  rabbit: { type: amqp, url: "${NJ_AMQP_URL}" }
  wh: { type: sqlite, path: out/wh.db }
jobs:
  events:
    batch_size: 1000
    source: { type: amqp, connection: rabbit, queue: %s, fetch_wait: 300ms }
    targets:
      - { type: table, connection: wh, table: events, mode: append, commit_rows: 3000 }
`, queue))
	t.Setenv("NJ_AMQP_URL", url)
	dbPath := filepath.Join(dir, "out", "wh.db")
	killed := killUntilDone(t, rng, cfg, "events", 8, time.Duration(n/30+200)*time.Millisecond, n, tableRows(dbPath, "events"))
	t.Logf("%d runs killed mid-way", killed)
	checkOnce(t, dbPath, "events", n)
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages != 0 {
		t.Fatalf("queue holds %d messages; want none (each acked)", q.Messages)
	}
}

// TestRabbitMQPublisherKilled: a job publishing a CSV file's rows to a
// queue, SIGKILLed at random moments and run again until a run completes:
// the queue holds every record, and a record that is there more than once
// (a batch sent again after a kill) has the same message-id each time, so
// a consumer can drop the copies.
func TestRabbitMQPublisherKilled(t *testing.T) {
	ch, url, queue := testQueue(t)
	n := brokerMessages(t, 10000)
	seed := rand.Uint64()
	t.Logf("seed %d, %d records", seed, n)
	rng := rand.New(rand.NewPCG(seed, 4))
	dir := t.TempDir()
	writeNumberedLeads(t, filepath.Join(dir, "in", "leads.csv"), n)
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, fmt.Sprintf(`connections:
  rabbit: { type: amqp, url: "${NJ_AMQP_URL}" }
jobs:
  publish:
    batch_size: 500
    source: { type: files, path: in/*.csv, settle: 0s }
    steps:
      - cast: { id: int }
    targets:
      - { type: amqp, connection: rabbit, routing_key: %s }
`, queue))
	t.Setenv("NJ_AMQP_URL", url)
	count := func() int {
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			return 0
		}
		return q.Messages
	}
	killed := killUntilDone(t, rng, cfg, "publish", 8, time.Duration(n/20+100)*time.Millisecond, n, count)
	t.Logf("%d runs killed mid-way", killed)

	idOf := map[int]string{}
	copies := 0
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		var rec struct{ ID int }
		if err := json.Unmarshal(d.Body, &rec); err != nil {
			t.Fatalf("message %q (message-id %q, type %q, redelivered %v): %v", d.Body, d.MessageId, d.ContentType, d.Redelivered, err)
		}
		if d.MessageId == "" || d.DeliveryMode != amqp.Persistent {
			t.Fatalf("record %d: message-id %q, delivery mode %d; want an id, persistent", rec.ID, d.MessageId, d.DeliveryMode)
		}
		if prev, seen := idOf[rec.ID]; seen {
			copies++
			if prev != d.MessageId {
				t.Fatalf("record %d sent twice with message-ids %s and %s", rec.ID, prev, d.MessageId)
			}
		}
		idOf[rec.ID] = d.MessageId
	}
	if len(idOf) != n {
		t.Fatalf("queue held %d distinct records; want %d", len(idOf), n)
	}
	t.Logf("%d copies of records sent again, each with its first message-id", copies)
}
