package rabbitmq

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/nightjar-etl/nightjar/connectors/internal/msgdecode"
	_ "github.com/nightjar-etl/nightjar/connectors/jsonfile"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// setup connects to NIGHTJAR_TEST_AMQP and names a queue of the test's
// own (declared by the tests that need it, deleted after).
func setup(t *testing.T) (*amqp.Channel, *etl.Connection, string) {
	t.Helper()
	url := os.Getenv("NIGHTJAR_TEST_AMQP")
	if url == "" {
		t.Skip("NIGHTJAR_TEST_AMQP is not set (e.g. amqp://guest:guest@127.0.0.1:5672/)")
	}
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	queue := "njt-" + strconv.FormatUint(rand.Uint64(), 36)
	t.Cleanup(func() { _, _ = ch.QueueDelete(queue, false, false, false) })
	return ch, &etl.Connection{Name: "rabbit", Type: "amqp", Config: &ConnConfig{URL: url}}, queue
}

// TestUnroutableFailsTheBatch: a record no queue takes comes back
// (mandatory) and fails the write instead of vanishing.
func TestUnroutableFailsTheBatch(t *testing.T) {
	_, conn, queue := setup(t)
	tg, err := NewTarget(TargetConfig{RoutingKey: queue, MaxInFlight: 4}, etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t"}); err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	b := etltest.StringBatch("in.csv", 2, `{"line":3}`, []string{"id"}, []string{"1"})
	err = tg.Write(ctx, b)
	if err == nil || !strings.Contains(err.Error(), "returned") || !strings.Contains(err.Error(), queue) {
		t.Fatalf("write to a key no queue is bound to: %v; want an error saying it was returned", err)
	}
}

// TestMissingQueueAndExchange: a queue or exchange that does not exist
// fails Open with a permanent error naming it.
func TestMissingQueueAndExchange(t *testing.T) {
	_, conn, queue := setup(t)
	src, err := NewSource(SourceConfig{Queue: queue, FetchWait: time.Second, Config: msgdecode.Defaults()}, etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	err = src.Open(context.Background(), etl.SourceEnv{Job: "j", BatchSize: 10})
	src.Close()
	if err == nil || !etl.IsPermanent(err) || !strings.Contains(err.Error(), queue) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("open a missing queue: %v", err)
	}
	tg, err := NewTarget(TargetConfig{Exchange: "nope-" + queue, RoutingKey: "x", MaxInFlight: 4}, etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	err = tg.Open(context.Background(), etl.TargetEnv{Job: "j", Name: "t"})
	if err == nil || !etl.IsPermanent(err) || !strings.Contains(err.Error(), "nope-"+queue) {
		t.Fatalf("open a missing exchange: %v", err)
	}
}

// TestUnreachableServer: a server that does not answer fails Open after
// its attempts, without the password in the message.
func TestUnreachableServer(t *testing.T) {
	conn := &etl.Connection{Name: "rabbit", Type: "amqp", Config: &ConnConfig{URL: "amqp://guest:s3cret-pw@127.0.0.1:1/", ConnectAttempts: 2}}
	src, err := NewSource(SourceConfig{Queue: "q", FetchWait: time.Second, Config: msgdecode.Defaults()}, etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	err = src.Open(context.Background(), etl.SourceEnv{Job: "j", BatchSize: 10})
	src.Close()
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Fatalf("open: %v; want the server and attempts, no password", err)
	}
}
