package mailchimp_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/connectors/mailchimp"
	"github.com/nightjar-etl/nightjar/connectors/mailchimp/mailchimptest"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

const (
	testKey  = "0123456789abcdef0123456789abcdef-us21"
	testList = "a1b2c3d4e5"
)

func newMemStore() *httpapitest.Fingerprints { return httpapitest.NewFingerprints() }

// connection is a mailchimp connection to srv.
func connection(t interface{ Fatal(...any) }, srv *mailchimptest.Server) *etl.Connection {
	c := mailchimp.DefaultConnConfig()
	c.Key, c.BaseURL = srv.Key, srv.BaseURL()
	if err := mailchimp.ValidateConnection(c, ""); err != nil {
		t.Fatal(err)
	}
	return &etl.Connection{Name: "mailchimp", Type: "mailchimp", Config: c}
}

// run opens a target, writes the batches, and commits; fullPass is what
// the runner would tell it.
func run(t testing.TB, conn *etl.Connection, cfg mailchimp.TargetConfig, store etl.Fingerprints, log *slog.Logger, fullPass bool, batches ...*etl.Batch) (*mailchimp.Audience, []etl.Reject) {
	t.Helper()
	ctx := context.Background()
	tg, err := mailchimp.New(cfg, etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := tg.Open(ctx, etl.TargetEnv{Job: "leads", Name: "leads[0] audience", Logger: log, Fingerprints: store,
		FullPass: func() bool { return fullPass }}); err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	var rejects []etl.Reject
	for _, b := range batches {
		if err := tg.Write(ctx, b); err != nil {
			t.Fatalf("write: %v", err)
		}
		rejects = append(rejects, tg.TakeRejects()...)
	}
	if err := tg.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return tg, rejects
}

func leads(rows ...[]string) *etl.Batch {
	return etltest.StringBatch("leads.csv", 2, `{}`, []string{"email", "first_name", "status", "interests"}, rows...)
}

// TestConnectionDataCentre: the key's suffix names the API's host, and a
// key without one is refused without printing it.
func TestConnectionDataCentre(t *testing.T) {
	t.Parallel()
	c := mailchimp.DefaultConnConfig()
	c.Key = "0123456789abcdef0123456789abcdef-us21"
	if err := mailchimp.ValidateConnection(c, ""); err != nil || c.BaseURL != "https://us21.api.mailchimp.com/3.0" {
		t.Fatalf("base %q, err %v", c.BaseURL, err)
	}
	c = mailchimp.DefaultConnConfig()
	c.Key = "0123456789abcdef5ecret"
	err := mailchimp.ValidateConnection(c, "")
	if err == nil || strings.Contains(err.Error(), "5ecret") || !strings.Contains(err.Error(), "data centre") {
		t.Fatalf("a key without data centre: %v", err)
	}
	c = mailchimp.DefaultConnConfig()
	c.Key, c.MaxConnections = "k-us1", 11
	if err := mailchimp.ValidateConnection(c, ""); err == nil || !strings.Contains(err.Error(), "max_connections") {
		t.Fatalf("11 connections: %v", err)
	}
}

// TestUnsubscribedStaysUnsubscribed: a member who unsubscribed in
// Mailchimp is sent again with changed fields and stays unsubscribed;
// new members get status_if_new; only a mapped status changes a status.
func TestUnsubscribedStaysUnsubscribed(t *testing.T) {
	t.Parallel()
	srv := mailchimptest.Start(testKey, testList)
	defer srv.Close()
	srv.Put(testList, mailchimptest.Member{Email: "gone@example.com", Status: "unsubscribed", MergeFields: map[string]any{}})
	conn := connection(t, srv)
	cfg := mailchimp.TargetConfig{List: testList, Email: "email", Map: map[string]string{"FNAME": "first_name"}}
	store := newMemStore()
	run(t, conn, cfg, store, nil, true, leads([]string{"Gone@Example.com", "Greta", "", ""}, []string{"new@example.com", "Nils", "", ""}))
	if m, _ := srv.Member(testList, "gone@example.com"); m.Status != "unsubscribed" || m.MergeFields["FNAME"] != "Greta" {
		t.Errorf("unsubscribed member after a sync: %+v, want unsubscribed with FNAME Greta", m)
	}
	if m, _ := srv.Member(testList, "new@example.com"); m.Status != "subscribed" {
		t.Errorf("new member: %+v, want subscribed (status_if_new)", m)
	}
	// status mapped on purpose: the row's status wins, null leaves it.
	cfg.Map["status"] = "status"
	run(t, conn, cfg, store, nil, true, leads([]string{"gone@example.com", "Greta", "subscribed", ""}, []string{"new@example.com", "Nils", "", ""}))
	if m, _ := srv.Member(testList, "gone@example.com"); m.Status != "subscribed" {
		t.Errorf("status mapped to subscribed: %+v", m)
	}
	if m, _ := srv.Member(testList, "new@example.com"); m.Status != "subscribed" {
		t.Errorf("status mapped but null: %+v, want it left subscribed", m)
	}
	_, rejects := run(t, conn, cfg, store, nil, true, leads([]string{"new@example.com", "Nils", "resubscribe", ""}))
	if len(rejects) != 1 || rejects[0].Field != "status" || !strings.Contains(rejects[0].Reason, "want one of") {
		t.Errorf("status outside Mailchimp's list: rejects %+v", rejects)
	}
	if bad := srv.Bad(); len(bad) > 0 {
		t.Errorf("malformed requests: %q", bad)
	}
}

// TestRefusedMembersQuarantined: compliance state, forgotten and fake
// addresses are refused one by one with Mailchimp's detail; the rest land,
// the key never shows in a reason or the log.
func TestRefusedMembersQuarantined(t *testing.T) {
	t.Parallel()
	srv := mailchimptest.Start(testKey, testList)
	defer srv.Close()
	srv.Refuse("blocked@example.com", "Member In Compliance State")
	srv.Refuse("forgot@example.com", "Forgotten Email Not Subscribed")
	srv.Refuse("test@test.com", "Invalid Resource")
	var logs httpapitest.LogBuffer
	tg, rejects := run(t, connection(t, srv), mailchimp.TargetConfig{List: testList, Email: "email", Segment: "lead"}, newMemStore(), logs.Logger(), true,
		leads([]string{"ok1@example.com", "", "", ""}, []string{"blocked@example.com", "", "", ""}, []string{"", "", "", ""},
			[]string{"forgot@example.com", "", "", ""}, []string{"test@test.com", "", "", ""}, []string{"ok2@example.com", "", "", ""}))
	want := map[int64]string{3: "Member In Compliance State: blocked@example.com is in a compliance state", 4: "no email",
		5: "Forgotten Email Not Subscribed: forgot@example.com was permanently deleted", 6: "Invalid Resource: test@test.com looks fake or invalid"}
	if len(rejects) != len(want) {
		t.Fatalf("rejects %+v, want lines %v", rejects, want)
	}
	for _, r := range rejects {
		if !strings.Contains(r.Reason, want[r.Origin.Line]) || r.Origin.File != "leads.csv" {
			t.Errorf("line %d: reason %q, want %q", r.Origin.Line, r.Reason, want[r.Origin.Line])
		}
	}
	if s := tg.Stats(); s.Sent != 2 || s.Rejected != 4 {
		t.Errorf("stats %+v, want 2 sent, 4 rejected", s)
	}
	if got := srv.Tagged(testList, "lead"); fmt.Sprint(got) != "[ok1@example.com ok2@example.com]" {
		t.Errorf("tagged %v", got)
	}
	if strings.Contains(logs.String(), "0123456789abcdef") {
		t.Errorf("the key is in the log:\n%s", logs.String())
	}
}

// TestTagsDiffed: tags changed since the last send are added and removed
// through the tags endpoint, tags set by hand are left, and an unchanged
// member sends nothing.
func TestTagsDiffed(t *testing.T) {
	t.Parallel()
	srv := mailchimptest.Start(testKey, testList)
	defer srv.Close()
	conn := connection(t, srv)
	cfg := mailchimp.TargetConfig{List: testList, Email: "email", Map: map[string]string{"FNAME": "first_name"}, Tags: "interests"}
	store := newMemStore()
	run(t, conn, cfg, store, nil, false, leads([]string{"a@example.com", "Ann", "", "bikes, tents"}))
	m, _ := srv.Member(testList, "a@example.com")
	m.Tags["vip"] = true // by hand, in Mailchimp
	srv.Put(testList, m)
	before := srv.Requests()
	run(t, conn, cfg, store, nil, false, leads([]string{"a@example.com", "Ann", "", `["tents","boats"]`}))
	m, _ = srv.Member(testList, "a@example.com")
	if fmt.Sprint(m.Tags) != "map[boats:true tents:true vip:true]" {
		t.Errorf("tags %v, want boats, tents and the hand-set vip", m.Tags)
	}
	after := srv.Requests()
	if after["PUT member"] != before["PUT member"] || after["POST tags"] != before["POST tags"]+1 {
		t.Errorf("a tag change alone: requests %v then %v, want one tags POST and no PUT", before, after)
	}
	run(t, conn, cfg, store, nil, false, leads([]string{"a@example.com", "Ann", "", "boats,tents"}))
	if again := srv.Requests(); !maps.Equal(again, after) {
		t.Errorf("an unchanged member sent %v after %v", again, after)
	}
	// Deleted in Mailchimp, then its tags change: the tags answer 404, so
	// the member is put back and given all its tags.
	srv.Delete(testList, "a@example.com")
	_, rejects := run(t, conn, cfg, store, nil, false, leads([]string{"a@example.com", "Ann", "", "boats"}))
	m, ok := srv.Member(testList, "a@example.com")
	if len(rejects) > 0 || !ok || fmt.Sprint(m.Tags) != "map[boats:true]" || m.MergeFields["FNAME"] != "Ann" {
		t.Errorf("a deleted member whose tags changed: %+v (present %v), rejects %+v", m, ok, rejects)
	}
}

// TestConnectionBound: two targets of one connection writing 300 members
// each at once never have more than 10 connections open, nor 10 requests
// in flight, as the server counts them.
func TestConnectionBound(t *testing.T) {
	t.Parallel()
	srv := mailchimptest.Start(testKey, testList, "b2")
	defer srv.Close()
	srv.SetDelay(3 * time.Millisecond)
	conn := connection(t, srv)
	var wg sync.WaitGroup
	for _, list := range []string{testList, "b2"} {
		var rows [][]string
		for i := range 300 {
			rows = append(rows, []string{fmt.Sprintf("m%d@example.com", i), "x", "", ""})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(t, conn, mailchimp.TargetConfig{List: list, Email: "email", Segment: "s"}, newMemStore(), nil, true, leads(rows...))
		}()
	}
	wg.Wait()
	conns, inFlight := srv.MaxConns()
	t.Logf("at most %d connections open, %d requests in flight, for %v", conns, inFlight, srv.Requests())
	if conns > mailchimp.MaxConnections || inFlight > mailchimp.MaxConnections {
		t.Errorf("%d connections, %d requests in flight at once: Mailchimp allows %d", conns, inFlight, mailchimp.MaxConnections)
	}
	if inFlight < 2 {
		t.Errorf("only %d request in flight at once: the pool does not work in parallel", inFlight)
	}
	if r := srv.Requests(); r["PUT member"] != 600 || r["POST tags"] != 600 {
		t.Errorf("requests %v", r)
	}
}

// TestDryRun: a dry run tells the PUTs a batch would take and sends
// nothing.
func TestDryRun(t *testing.T) {
	t.Parallel()
	srv := mailchimptest.Start(testKey, testList)
	defer srv.Close()
	tg, err := mailchimp.New(mailchimp.TargetConfig{List: testList, Email: "email", Map: map[string]string{"FNAME": "first_name"}, Segment: "lead"},
		etl.BuildEnv{Connection: connection(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	lines, err := tg.DryRun(context.Background(), etl.TargetEnv{Name: "t"}, leads([]string{"A@example.com", "Ann", "", ""}, []string{"", "", "", ""}))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{"PUT /lists/a1b2c3d4e5/members/{md5 of the email}: 1 request(s) for 1 record(s), 1 row(s) without an id refused",
		"POST .../tags", `{"email_address":"a@example.com","status_if_new":"subscribed","merge_fields":{"FNAME":"Ann"}}`} {
		if !strings.Contains(got, want) {
			t.Errorf("dry run:\n%s\nwant %q", got, want)
		}
	}
	if r := srv.Requests(); len(r) != 0 {
		t.Errorf("a dry run sent %v", r)
	}
}
