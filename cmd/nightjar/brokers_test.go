package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// brokerMessages is how many messages the broker kill tests publish:
// NIGHTJAR_BROKER_MESSAGES (100000 by hand), else a count CI runs quickly.
func brokerMessages(t *testing.T, ci int) int {
	return envCount(t, "NIGHTJAR_BROKER_MESSAGES", ci, 1)
}

// testJetStream connects to NIGHTJAR_TEST_NATS and creates a stream of its
// own (removed after the test) capturing subjects "<prefix>.>", keeping
// messages by retention.
func testJetStream(t *testing.T, dupWindow time.Duration, retention jetstream.RetentionPolicy) (js jetstream.JetStream, url, stream, prefix string) {
	t.Helper()
	url = os.Getenv("NIGHTJAR_TEST_NATS")
	if url == "" {
		t.Skip("NIGHTJAR_TEST_NATS is not set (e.g. nats://127.0.0.1:4222)")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	if js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	suffix := strconv.FormatUint(rand.Uint64(), 36)
	stream, prefix = "NJ_"+suffix, "nj"+suffix
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{prefix + ".>"}, Duplicates: dupWindow, Retention: retention}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), stream) })
	return js, url, stream, prefix
}

// publishJSON publishes n messages {"id": i} for i in 1..n to subject.
func publishJSON(t *testing.T, js jetstream.JetStream, subject string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if _, err := js.PublishAsync(subject, fmt.Appendf(nil, `{"id":%d,"name":"lead %d"}`, i, i)); err != nil {
			t.Fatal(err)
		}
		// nats.go bounds the acks outstanding (4,000): wait for them every
		// thousand, or 100,000 messages stall.
		if i%1000 == 0 || i == n {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(60 * time.Second):
				t.Fatalf("publishing message %d: acks outstanding after 60 s", i)
			}
		}
	}
}

// killUntilDone runs `nightjar run -c cfg job`, SIGKILLing it at a random
// moment kills times, then lets a run finish; it returns how many runs were
// killed mid-way. Half the kills come after a random delay up to maxDelay,
// half once count() (the rows loaded) reached a random share of n, plus a
// few milliseconds, so that they land mid-load however fast the machine.
func killUntilDone(t *testing.T, rng *rand.Rand, cfg, job string, kills int, maxDelay time.Duration, n int, count func() int) int {
	t.Helper()
	bin := nightjarBinary(t)
	killed := 0
	defer func() {
		if killed == 0 && !t.Failed() {
			t.Errorf("no run was killed mid-way: the test proved nothing")
		}
	}()
	for attempt := 0; ; attempt++ {
		if attempt > kills+20 {
			t.Fatalf("no run completed after %d attempts", attempt)
		}
		cmd := exec.Command(bin, "run", "-c", cfg, job)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if attempt >= kills {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("final run failed: %v\n%s", err, out)
				}
				return killed
			case <-time.After(5 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("final run still going after 5 minutes\n%s", out)
			}
		}
		deadline := time.After(time.Duration(rng.Int64N(int64(maxDelay))))
		threshold := 0
		if attempt == 0 || rng.IntN(2) == 0 {
			// The first kill waits for rows in the first half of the
			// load: a run that beat every delay was never killed (NATS,
			// 100,000 messages: "0 runs killed mid-way"), and the test
			// proved nothing.
			threshold = 1 + rng.IntN(n)
			if attempt == 0 {
				threshold = 1 + rng.IntN(max(1, n/2))
			}
			deadline = time.After(time.Minute)
		}
		if !awaitKill(rng, done, deadline, threshold, count) {
			if err := <-done; err != nil {
				t.Fatalf("run failed before its kill: %v\n%s", err, out)
			}
			return killed
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		if err := <-done; err != nil {
			killed++
		}
	}
}

// tableRows counts table's rows in the SQLite file at path; 0 while it
// does not exist.
func tableRows(path, table string) func() int {
	return func() int {
		db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=1000")
		if err != nil {
			return 0
		}
		defer db.Close()
		var n int
		_ = db.QueryRow(fmt.Sprintf(`SELECT COUNT(*) FROM %q`, table)).Scan(&n)
		return n
	}
}

// checkOnce checks that table holds the ids 1..n exactly once each.
func checkOnce(t *testing.T, dbPath, table string, n int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, distinct, lo, hi int
	q := fmt.Sprintf(`SELECT COUNT(*), COUNT(DISTINCT id), MIN(id), MAX(id) FROM %q`, table)
	if err := db.QueryRow(q).Scan(&rows, &distinct, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if rows != n || distinct != n || lo != 1 || hi != n {
		var dup, times int
		_ = db.QueryRow(fmt.Sprintf(`SELECT id, COUNT(*) FROM %q GROUP BY id HAVING COUNT(*) > 1 LIMIT 1`, table)).Scan(&dup, &times)
		t.Fatalf("table %s: %d rows, %d distinct ids in [%d, %d]; want each of 1..%d once (id %d is there %d times)",
			table, rows, distinct, lo, hi, n, dup, times)
	}
}

// TestNATSConsumerKilled: messages in a stream, the consuming job
// SIGKILLed at random moments and run again until a run completes: each
// message's row is in the append table exactly once, and the consumer has
// acked every message, none pending; the work-queue stream is empty.
func TestNATSConsumerKilled(t *testing.T) {
	// A work queue keeps a message until it is acked, then drops it: an
	// ack before the checkpoint loses the message when the run dies.
	js, url, stream, prefix := testJetStream(t, 0, jetstream.WorkQueuePolicy)
	n := brokerMessages(t, 10000)
	publishJSON(t, js, prefix+".leads", n)
	seed := rand.Uint64()
	t.Logf("seed %d, %d messages", seed, n)
	rng := rand.New(rand.NewPCG(seed, 1))

	dir := t.TempDir()
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, fmt.Sprintf(`connections:
  bus: { type: nats, url: "${NJ_NATS_URL}" }
  wh: { type: sqlite, path: out/wh.db }
jobs:
  events:
    batch_size: 1000
    source: { type: nats, connection: bus, stream: %s, consumer: kill, fetch_wait: 300ms }
    targets:
      - { type: table, connection: wh, table: events, mode: append, commit_rows: 3000 }
`, stream))
	t.Setenv("NJ_NATS_URL", url)
	start := time.Now()
	dbPath := filepath.Join(dir, "out", "wh.db")
	killed := killUntilDone(t, rng, cfg, "events", 8, time.Duration(n/30+200)*time.Millisecond, n, tableRows(dbPath, "events"))
	t.Logf("%d runs killed mid-way; %d messages loaded in %v", killed, n, time.Since(start).Round(time.Millisecond))
	checkOnce(t, dbPath, "events", n)

	cons, err := js.Consumer(context.Background(), stream, "kill")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending != 0 || info.NumAckPending != 0 || info.AckFloor.Stream != uint64(n) {
		t.Fatalf("consumer: %d pending, %d awaiting an ack, ack floor at stream seq %d; want 0, 0, %d",
			info.NumPending, info.NumAckPending, info.AckFloor.Stream, n)
	}
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	if left := st.CachedInfo().State.Msgs; left != 0 {
		t.Fatalf("work queue holds %d messages; want none (each acked)", left)
	}
}

// TestNATSPublisherKilled: a job publishing a CSV file's rows to a
// JetStream subject, SIGKILLed at random moments and run again until a run
// completes: the stream holds each record exactly once, since a replayed
// batch carries the same Nats-Msg-Ids and the server drops them.
func TestNATSPublisherKilled(t *testing.T) {
	js, url, stream, prefix := testJetStream(t, 10*time.Minute, jetstream.LimitsPolicy)
	n := brokerMessages(t, 10000)
	seed := rand.Uint64()
	t.Logf("seed %d, %d records", seed, n)
	rng := rand.New(rand.NewPCG(seed, 2))

	dir := t.TempDir()
	writeNumberedLeads(t, filepath.Join(dir, "in", "leads.csv"), n)
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, fmt.Sprintf(`connections:
  bus: { type: nats, url: "${NJ_NATS_URL}" }
jobs:
  publish:
    batch_size: 500
    source: { type: files, path: in/*.csv, settle: 0s }
    steps:
      - cast: { id: int }
    targets:
      - { type: nats, connection: bus, subject: %s.qualified }
`, prefix))
	t.Setenv("NJ_NATS_URL", url)
	ctx := context.Background()
	count := func() int {
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return 0
		}
		return int(st.CachedInfo().State.Msgs)
	}
	killed := killUntilDone(t, rng, cfg, "publish", 8, time.Duration(n/40+100)*time.Millisecond, n, count)
	t.Logf("%d runs killed mid-way", killed)

	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[int]int, n)
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var rec struct{ ID int }
			if err := json.Unmarshal(m.Data(), &rec); err != nil {
				t.Fatalf("message %q: %v", m.Data(), err)
			}
			seen[rec.ID]++
			if seen[rec.ID] > 1 {
				t.Fatalf("record %d read twice from the stream", rec.ID)
			}
		}
		if got == 0 {
			break
		}
	}
	if len(seen) != n || count() != n {
		t.Fatalf("stream: %d distinct records in %d messages; want %d", len(seen), count(), n)
	}
}

// writeNumberedLeads writes a CSV file of n leads, ids 1..n.
func writeNumberedLeads(t *testing.T, path string, n int) {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("id,name\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&csv, "%d,lead %d\n", i, i)
	}
	writeFile(t, path, csv.String())
}
