package zendesk_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/connectors/zendesk"
	"github.com/nightjar-etl/nightjar/connectors/zendesk/zendesktest"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// t0 starts the fake clocks: rate-limit waits advance it, never sleep.
var t0 = time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)

var msgFields = []string{"conversation_id", "message_id", "text", "status", "priority", "tags", "email"}

func ticketsConfig() zendesk.TargetConfig {
	return zendesk.TargetConfig{Object: "tickets", Key: "conversation_id",
		Comment:   &zendesk.CommentConfig{Key: "message_id", Body: "text"},
		Requester: &zendesk.RequesterConfig{Email: "email"},
		Map:       map[string]string{"status": "status", "priority": "priority", "tags": "tags"}}
}

// connection is a zendesk connection to srv, validated as the config
// loader does; maxRetries -1 makes a dropped answer fail the Write at once.
func connection(t testing.TB, srv *zendesktest.Server, maxRetries int) *etl.Connection {
	t.Helper()
	conn := zendesk.DefaultConnConfig()
	conn.BaseURL, conn.Email, conn.APIToken, conn.MaxRetries = srv.URL, srv.User, srv.Token, maxRetries
	if err := zendesk.ValidateConnection(conn, ""); err != nil {
		t.Fatal(err)
	}
	return &etl.Connection{Name: "zendesk", Type: "zendesk", Config: conn}
}

func newTickets(t testing.TB, cfg zendesk.TargetConfig, conn *etl.Connection) etl.Target {
	t.Helper()
	tg, err := zendesk.New(cfg, etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func openStore(t testing.TB, dir string) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// msg is one message row of a conversation.
type msg struct {
	conv, id, text, status, priority, tags string
}

// memStore is etl.Fingerprints in memory.
type memStore struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

func (s *memStore) Fingerprints(_ context.Context, target string, ids []string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, id := range ids {
		if v, ok := s.m[target][id]; ok {
			out[id] = v
		}
	}
	return out, nil
}

func (s *memStore) SaveFingerprints(_ context.Context, target string, digests map[string]string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[target] == nil {
		s.m[target] = map[string]string{}
	}
	for k, v := range digests {
		s.m[target][k] = v
	}
	return nil
}

func batchOf(seq int64, msgs []msg) *etl.Batch {
	rows := make([][]string, len(msgs))
	for i, m := range msgs {
		rows[i] = []string{m.conv, m.id, m.text, m.status, m.priority, m.tags, m.conv + "@example.com"}
	}
	b := etltest.StringBatch("in/messages.jsonl", 1, fmt.Sprintf(`{"n":%d}`, seq), msgFields, rows...)
	b.Seq = seq
	return b
}

// TestTicketsOneTicketPerConversationWhateverTheCrashes searches random
// conversation histories, delivered over two runs (the second after some
// conversations got new messages, and a status change), in random
// batches, with crashes at random requests: the server does the work and
// the client never hears the answer (the process "dies": its context is
// cancelled), and the run is resumed by a new target on the same state
// store, replaying from the failed batch or the one before. Zendesk's
// Idempotency-Key memory is on or off at random, so the state store's
// pending marks are searched on their own too. Whatever happened, each
// conversation has exactly one ticket (external_id = its id) whose
// comments are its messages, each once, in order, and whose fields are
// those of its last message.
func TestTicketsOneTicketPerConversationWhateverTheCrashes(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		srv := zendesktest.New(t)
		conn := connection(t, srv, -1)
		// The state store's contract in memory: the real one (SQLite,
		// an fsync per save) is what the process test kills.
		store := &memStore{m: map[string]map[string]string{}}
		srv.ForgetIdempotency = rapid.Bool().Draw(rt, "forgetIdempotency")
		nConv := rapid.IntRange(1, 5).Draw(rt, "conversations")
		statuses := []string{"new", "open", "pending", "solved"}
		var history [][]msg // per conversation, all its messages
		for c := 0; c < nConv; c++ {
			n := rapid.IntRange(1, 6).Draw(rt, "messages")
			var ms []msg
			for i := 0; i < n; i++ {
				ms = append(ms, msg{conv: fmt.Sprintf("conv-%d", c), id: fmt.Sprintf("m%d", i),
					text:     fmt.Sprintf("conv-%d message %d: %s", c, i, rapid.StringMatching(`[a-z ]{0,12}`).Draw(rt, "text")),
					status:   rapid.SampledFrom(statuses).Draw(rt, "status"),
					priority: rapid.SampledFrom([]string{"", "low", "high"}).Draw(rt, "priority"),
					tags:     rapid.SampledFrom([]string{"", "bot handoff", "vip"}).Draw(rt, "tags")})
			}
			history = append(history, ms)
		}
		// Run 1 delivers a prefix of each conversation; run 2 everything.
		cut := make([]int, nConv)
		for c := range history {
			cut[c] = rapid.IntRange(1, len(history[c])).Draw(rt, "cut")
		}
		var seq int64
		for run := 1; run <= 2; run++ {
			var rows []msg
			for c, ms := range history {
				upto := len(ms)
				if run == 1 {
					upto = cut[c]
				}
				// A source reading a conversation log sends its rows again
				// in a later run (a lookback): the done ones are skipped.
				rows = append(rows, ms[:upto]...)
			}
			size := rapid.IntRange(1, 6).Draw(rt, "batchSize")
			var batches []*etl.Batch
			for i := 0; i < len(rows); i += size {
				seq++
				batches = append(batches, batchOf(seq, rows[i:min(i+size, len(rows))]))
			}
			crashes := rapid.IntRange(0, 3).Draw(rt, "crashes")
			from := 0
			for attempt := 0; ; attempt++ {
				ctx, cancel := context.WithCancel(context.Background())
				crashAt := -1
				if attempt < crashes {
					crashAt = srv.Requests() + rapid.IntRange(1, 12).Draw(rt, "crashAt")
				}
				var crashed atomic.Bool
				srv.SetBeforeAnswer(func(n int, _ *http.Request) bool {
					if n == crashAt {
						crashed.Store(true)
						cancel()
						return true
					}
					return false
				})
				tg := newTickets(t, ticketsConfig(), conn)
				if err := tg.Open(ctx, etl.TargetEnv{Job: "handoffs", Name: "targets[0] helpdesk tickets", Fingerprints: store, Clock: httpapitest.NewClock(t0)}); err != nil {
					t.Fatal(err)
				}
				failed := -1
				for i := from; i < len(batches); i++ {
					if err := tg.Write(ctx, batches[i]); err != nil {
						if !crashed.Load() {
							t.Fatalf("run %d batch %d: %v", run, i, err)
						}
						failed = i
						break
					}
					if rej := tg.(etl.Rejecter).TakeRejects(); len(rej) > 0 {
						t.Fatalf("rejects: %+v", rej)
					}
				}
				cancel()
				tg.Close()
				if failed < 0 {
					break
				}
				// The checkpoint may be before the failed batch or, if the
				// crash came after it was recorded, the batch before.
				from = max(0, failed-rapid.IntRange(0, 1).Draw(rt, "replayBack"))
			}
		}
		srv.SetBeforeAnswer(nil)
		got := srv.Tickets()
		if len(got) != nConv {
			t.Fatalf("%d tickets for %d conversations: %+v", len(got), nConv, got)
		}
		byConv := map[string]zendesktest.Ticket{}
		for _, tk := range got {
			if _, dup := byConv[tk.ExternalID]; dup {
				t.Fatalf("two tickets for %s", tk.ExternalID)
			}
			byConv[tk.ExternalID] = tk
		}
		for _, ms := range history {
			tk, ok := byConv[ms[0].conv]
			if !ok {
				t.Fatalf("no ticket for %s", ms[0].conv)
			}
			var want []string
			for _, m := range ms {
				want = append(want, strings.TrimSpace(m.text))
			}
			if !slices.Equal(tk.Comments, want) {
				t.Fatalf("%s: comments\n got %q\nwant %q", ms[0].conv, tk.Comments, want)
			}
			last := ms[len(ms)-1]
			if tk.Status != last.status {
				t.Fatalf("%s: status %q, want %q", ms[0].conv, tk.Status, last.status)
			}
			if tk.Requester != ms[0].conv+"@example.com" {
				t.Fatalf("%s: requester %q", ms[0].conv, tk.Requester)
			}
		}
	})
}

// TestTicketsRefusedValuesAreQuarantinedWithTheirField: a status Zendesk
// does not take is quarantined naming the field and value, before any
// request; a row without a conversation id too; the rest is delivered.
func TestTicketsRefusedValuesAreQuarantinedWithTheirField(t *testing.T) {
	srv := zendesktest.New(t)
	tg := newTickets(t, ticketsConfig(), connection(t, srv, 0))
	ctx := context.Background()
	if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t", Fingerprints: openStore(t, t.TempDir()), Clock: httpapitest.NewClock(t0)}); err != nil {
		t.Fatal(err)
	}
	b := batchOf(1, []msg{
		{conv: "c1", id: "1", text: "hello", status: "open"},
		{conv: "c1", id: "2", text: "help", status: "escalated"},
		{conv: "", id: "3", text: "orphan", status: "open"},
	})
	if err := tg.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	rej := tg.(etl.Rejecter).TakeRejects()
	if len(rej) != 2 || rej[0].Field != "status" || rej[0].Value != "escalated" || rej[0].Origin.Line != 2 ||
		!strings.Contains(rej[0].Reason, "not one of new, open") || rej[1].Field != "conversation_id" {
		t.Fatalf("rejects %+v", rej)
	}
	if got := srv.Tickets(); len(got) != 1 || !slices.Equal(got[0].Comments, []string{"hello"}) {
		t.Fatalf("tickets %+v", got)
	}
}

// TestTicketsCreateCarriesIdempotencyKeyAndExternalID: the create request
// has an Idempotency-Key stable across runs, and the ticket its key as
// external_id; a second target on the same store makes no second ticket.
func TestTicketsCreateCarriesIdempotencyKeyAndExternalID(t *testing.T) {
	srv := zendesktest.New(t)
	var keys []string
	srv.SetBeforeAnswer(func(_ int, r *http.Request) bool {
		if r.Method == http.MethodPost {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
		}
		return false
	})
	conn := connection(t, srv, 0)
	store := openStore(t, t.TempDir())
	ctx := context.Background()
	for run := 0; run < 2; run++ {
		tg := newTickets(t, ticketsConfig(), conn)
		if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t", Fingerprints: store, Clock: httpapitest.NewClock(t0)}); err != nil {
			t.Fatal(err)
		}
		if err := tg.Write(ctx, batchOf(1, []msg{{conv: "c1", id: "1", text: "hi", status: "open"}})); err != nil {
			t.Fatal(err)
		}
	}
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "nightjar-") {
		t.Fatalf("creates with keys %q, want one", keys)
	}
	if got := srv.Tickets(); len(got) != 1 || got[0].ExternalID != "c1" {
		t.Fatalf("tickets %+v", got)
	}
}

// TestTicketsPacedByRetryAfter: a 429 with Retry-After is waited out (on
// the fake clock) and the request sent again; the run neither fails nor
// makes the ticket twice.
func TestTicketsPacedByRetryAfter(t *testing.T) {
	srv := zendesktest.New(t)
	srv.Throttle = 2
	clock := httpapitest.NewClock(t0)
	tg := newTickets(t, ticketsConfig(), connection(t, srv, 0))
	ctx := context.Background()
	if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t", Fingerprints: &memStore{m: map[string]map[string]string{}}, Clock: clock}); err != nil {
		t.Fatal(err)
	}
	if err := tg.Write(ctx, batchOf(1, []msg{{conv: "c1", id: "1", text: "hi"}, {conv: "c1", id: "2", text: "there"}})); err != nil {
		t.Fatal(err)
	}
	if waited := clock.Now().Sub(t0); waited < 14*time.Second {
		t.Errorf("waited %s for two Retry-After: 7, want at least 14s", waited)
	}
	if got := srv.Tickets(); len(got) != 1 || !slices.Equal(got[0].Comments, []string{"hi", "there"}) {
		t.Fatalf("tickets %+v", got)
	}
}
