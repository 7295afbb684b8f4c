package zendesk_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/connectors/zendesk"
	"github.com/nightjar-etl/nightjar/connectors/zendesk/zendesktest"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// TestUsersJobPolledAndEachResultMatched: users go through
// create_or_update_many, the job is polled until completed, each result
// is matched to its row: the user Zendesk refused is quarantined with its
// message and origin, the others are there; unchanged users are not sent
// again.
func TestUsersJobPolledAndEachResultMatched(t *testing.T) {
	srv := zendesktest.New(t)
	srv.RefuseEmail("bad@example.com", "Email bad@example.com is not properly formatted")
	cfg := zendesk.TargetConfig{Object: "users", BatchSize: 2, Map: map[string]string{"email": "email", "name": "name"}}
	ctx := context.Background()
	store := &memStore{m: map[string]map[string]string{}}
	b := etltest.StringBatch("users.csv", 2, `{}`, []string{"email", "name"},
		[]string{"Ann@Example.com", "Ann"}, []string{"bad@example.com", "Bad"}, []string{"cy@example.com", "Cy"}, []string{"", "No Email"})
	for run := 0; run < 2; run++ {
		tg := newTickets(t, cfg, connection(t, srv, 0))
		if err := tg.Open(ctx, etl.TargetEnv{Job: "u", Name: "users", Fingerprints: store, Clock: httpapitest.NewClock(t0)}); err != nil {
			t.Fatal(err)
		}
		if err := tg.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		rej := tg.(etl.Rejecter).TakeRejects()
		sort.Slice(rej, func(i, j int) bool { return rej[i].Origin.Line < rej[j].Origin.Line })
		if len(rej) != 2 || rej[0].Origin.Line != 3 || !strings.Contains(rej[0].Reason, "EmailNotAllowed: Email bad@example.com is not properly formatted") ||
			rej[1].Origin.Line != 5 || rej[1].Field != "email" {
			t.Fatalf("run %d: rejects %+v", run, rej)
		}
		s := tg.(*zendesk.Users).Stats()
		if run == 0 && (s.Sent != 2 || s.Rejected != 2) {
			t.Fatalf("run 0: %+v", s)
		}
		if run == 1 && (s.Sent != 0 || s.Unchanged != 2) {
			t.Fatalf("run 1: unchanged users sent again: %+v", s)
		}
	}
	users := srv.Users()
	if len(users) != 2 || users["ann@example.com"].Name != "Ann" || users["cy@example.com"].Name != "Cy" {
		t.Fatalf("users %+v", users)
	}
}
