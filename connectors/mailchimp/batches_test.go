package mailchimp_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/mailchimp"
	"github.com/nightjar-etl/nightjar/connectors/mailchimp/mailchimptest"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

var t0 = time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)

// write opens a target on a fake clock (polls and Retry-After waits pass
// at once), writes the batches and commits; it returns the stats, the
// rejects and the first error.
func write(t interface {
	Helper()
	Fatal(...any)
}, conn *etl.Connection, cfg mailchimp.TargetConfig, store etl.Fingerprints, fullPass bool, batches ...*etl.Batch) (mailchimp.Stats, []etl.Reject, error) {
	t.Helper()
	ctx := context.Background()
	tg, err := mailchimp.New(cfg, etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Open(ctx, etl.TargetEnv{Job: "leads", Name: "leads[0] audience", Fingerprints: store, Clock: etltest.NewClock(t0),
		FullPass: func() bool { return fullPass }}); err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	var rejects []etl.Reject
	for _, b := range batches {
		if err := tg.Write(ctx, b); err != nil {
			return tg.Stats(), rejects, err
		}
		rejects = append(rejects, tg.TakeRejects()...)
	}
	return tg.Stats(), rejects, tg.Commit(ctx)
}

// rejected is a reject as the quarantine shows it.
func rejected(rs []etl.Reject) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("line %d %s=%q: %s", r.Origin.Line, r.Field, r.Value, r.Reason))
	}
	slices.Sort(out)
	return out
}

// audience is every member of emails as the server holds it.
func audience(srv *mailchimptest.Server, emails []string) []string {
	var out []string
	for _, e := range emails {
		if m, ok := srv.Member(testList, e); ok {
			out = append(out, fmt.Sprintf("%s %s %v %v", m.Email, m.Status, m.MergeFields, m.Tags))
		}
	}
	return out
}

// TestBatchesMatchPerRequest runs the same random rows, run after run,
// through a target sending one request per member and through one sending
// batch operations to a server that runs each batch's operations in a
// shuffled order and returns their results shuffled across files, with
// 429s (Retry-After) while it is polled. Members are refused (compliance
// state, forgotten, fake), unsubscribe, and are deleted in Mailchimp
// between runs (the tags operation answers 404 and the member is put
// back). After each run both audiences hold the same members (status,
// merge fields, tags), both quarantines the same rows with the same
// reasons, and both targets the same counts.
func TestBatchesMatchPerRequest(t *testing.T) {
	t.Parallel()
	titles := []string{"Member In Compliance State", "Forgotten Email Not Subscribed", "Invalid Resource"}
	batches := 0
	rapid.Check(t, func(rt *rapid.T) {
		emails := make([]string, rapid.IntRange(2, 14).Draw(rt, "members"))
		for i := range emails {
			emails[i] = fmt.Sprintf("m%d@example.com", i)
		}
		var srvs [2]*mailchimptest.Server
		for k := range srvs {
			srvs[k] = mailchimptest.Start(testKey, testList)
			defer srvs[k].Close()
		}
		srvs[1].SetSeed(rapid.Uint64().Draw(rt, "seed"))
		srvs[1].SetBatchThrottle(rapid.IntRange(0, 2).Draw(rt, "429s per batch"))
		both := func(f func(s *mailchimptest.Server)) {
			for _, s := range srvs {
				f(s)
			}
		}
		for _, e := range emails {
			switch rapid.IntRange(0, 5).Draw(rt, "kind of "+e) {
			case 0:
				title := rapid.SampledFrom(titles).Draw(rt, "refusal")
				both(func(s *mailchimptest.Server) { s.Refuse(e, title) })
			case 1:
				both(func(s *mailchimptest.Server) {
					s.Put(testList, mailchimptest.Member{Email: e, Status: "unsubscribed", MergeFields: map[string]any{"FNAME": "Old"}})
				})
			}
		}
		cfg := mailchimp.TargetConfig{List: testList, Email: "email", Map: map[string]string{"FNAME": "first_name"}, Tags: "interests",
			BatchOperationsOver: -1}
		if rapid.Bool().Draw(rt, "segment") {
			cfg.Segment = "lead"
		}
		if rapid.Bool().Draw(rt, "status mapped") {
			cfg.Map["status"] = "status"
		}
		batched := cfg
		batched.BatchOperationsOver = rapid.IntRange(1, 3).Draw(rt, "batch_operations_over")
		batched.BatchPollInterval = time.Second
		cfgs := [2]mailchimp.TargetConfig{cfg, batched}
		stores := [2]etl.Fingerprints{newMemStore(), newMemStore()}
		conns := [2]*etl.Connection{connection(rt, srvs[0]), connection(rt, srvs[1])}

		for run := range rapid.IntRange(1, 4).Draw(rt, "runs") {
			for _, e := range emails {
				switch rapid.IntRange(0, 6).Draw(rt, fmt.Sprintf("run %d: %s in Mailchimp", run, e)) {
				case 0:
					both(func(s *mailchimptest.Server) { s.Delete(testList, e) })
				case 1:
					both(func(s *mailchimptest.Server) {
						if m, ok := s.Member(testList, e); ok {
							m.Status = "unsubscribed"
							s.Put(testList, m)
						}
					})
				}
			}
			var bs []*etl.Batch
			line := int64(2)
			for range rapid.IntRange(1, 3).Draw(rt, "batches") {
				var rows [][]string
				for range rapid.IntRange(0, 2*len(emails)).Draw(rt, "rows") {
					e := rapid.SampledFrom(append(emails, "")).Draw(rt, "email")
					if rapid.Bool().Draw(rt, "upper") {
						e = strings.ToUpper(e)
					}
					name := rapid.SampledFrom([]string{"Ann", "Bo", "Zoë"}).Draw(rt, "name")
					status := rapid.SampledFrom([]string{"", "", "subscribed", "unsubscribed", "resubscribe"}).Draw(rt, "status")
					tags := rapid.SliceOfDistinct(rapid.SampledFrom([]string{"bikes", "tents", "boats"}), rapid.ID[string]).Draw(rt, "tags")
					rows = append(rows, []string{e, name, status, strings.Join(tags, ",")})
				}
				bs = append(bs, etltest.StringBatch("leads.csv", line, `{}`, []string{"email", "first_name", "status", "interests"}, rows...))
				line += int64(len(rows))
			}
			fullPass := rapid.Bool().Draw(rt, "full pass")
			var stats [2]mailchimp.Stats
			var rejects [2][]string
			for k := range srvs {
				st, rs, err := write(rt, conns[k], cfgs[k], stores[k], fullPass, bs...)
				if err != nil {
					rt.Fatalf("run %d, target %d: %v", run, k, err)
				}
				stats[k], rejects[k] = st, rejected(rs)
			}
			batches += int(stats[1].Batches)
			stats[1].Batches = 0
			if stats[0] != stats[1] {
				rt.Fatalf("run %d: counts one by one %+v, by batches %+v", run, stats[0], stats[1])
			}
			if !slices.Equal(rejects[0], rejects[1]) {
				rt.Fatalf("run %d: quarantine one by one:\n%s\nby batches:\n%s", run, strings.Join(rejects[0], "\n"), strings.Join(rejects[1], "\n"))
			}
			if a, b := audience(srvs[0], emails), audience(srvs[1], emails); !slices.Equal(a, b) {
				rt.Fatalf("run %d: audience one by one:\n%s\nby batches:\n%s", run, strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
		}
		for k, s := range srvs {
			if bad := s.Bad(); len(bad) > 0 {
				rt.Fatalf("server %d: malformed requests %q", k, bad)
			}
		}
		if r := srvs[0].Requests(); r["POST batches"] > 0 {
			rt.Fatalf("the per-request target submitted batches: %v", r)
		}
	})
	if batches == 0 {
		t.Fatal("no batch was submitted: the test compared nothing")
	}
	t.Logf("%d batches matched", batches)
}

// TestBatchReplayFetchesSubmittedBatch: a batch that does not finish
// within batch_timeout stops the Write with a clear error; the rerun of
// the same Write fetches the results of the batch it submitted (no second
// POST /batches), through 429s with Retry-After; a batch Mailchimp no
// longer keeps is submitted again.
func TestBatchReplayFetchesSubmittedBatch(t *testing.T) {
	t.Parallel()
	srv := mailchimptest.Start(testKey, testList)
	defer srv.Close()
	srv.Refuse("blocked@example.com", "Member In Compliance State")
	conn := connection(t, srv)
	cfg := mailchimp.TargetConfig{List: testList, Email: "email", Tags: "interests", BatchOperationsOver: 2, BatchTimeout: time.Minute}
	store := newMemStore()
	var rows [][]string
	for i := range 20 {
		rows = append(rows, []string{fmt.Sprintf("m%d@example.com", i), "", "", "bikes"})
	}
	rows = append(rows, []string{"blocked@example.com", "", "", ""})
	b := leads(rows...)

	srv.SetBatchStall(true)
	_, _, err := write(t, conn, cfg, store, true, b)
	if err == nil || !strings.Contains(err.Error(), "still started after batch_timeout 1m0s (0 of 21 operations finished)") ||
		!strings.Contains(err.Error(), "the next run fetches this batch's results") {
		t.Fatalf("a stalled batch: %v", err)
	}
	t.Logf("stalled: %v", err)
	srv.SetBatchStall(false)
	srv.SetBatchThrottle(2)
	st, rejects, err := write(t, conn, cfg, store, true, b)
	if err != nil {
		t.Fatal(err)
	}
	r := srv.Requests()
	if r["POST batches"] != 2 || srv.Operations() != 41 || r["GET batch 429"] == 0 {
		t.Errorf("requests %v, %d operations: want the PUT batch submitted once, then the tags batch of 20, and 429s seen", r, srv.Operations())
	}
	if st.Sent != 20 || st.Tagged != 20 || st.Batches != 2 || len(rejects) != 1 || !strings.Contains(rejects[0].Reason, "Member In Compliance State") {
		t.Errorf("stats %+v, rejects %+v", st, rejects)
	}
	if m, ok := srv.Member(testList, "m7@example.com"); !ok || !m.Tags["bikes"] {
		t.Errorf("member after the replay: %+v", m)
	}

	// Changed rows, a stalled batch, then Mailchimp forgets it: the
	// rerun submits it again.
	for i := range rows[:20] {
		rows[i][1] = "New"
	}
	cfg.Map = map[string]string{"FNAME": "first_name"}
	b = leads(rows...)
	srv.SetBatchStall(true)
	if _, _, err := write(t, conn, cfg, store, true, b); err == nil {
		t.Fatal("a stalled batch did not fail the Write")
	}
	srv.SetBatchStall(false)
	srv.ForgetBatches()
	if st, _, err = write(t, conn, cfg, store, true, b); err != nil || st.Sent != 20 {
		t.Fatalf("after the batch was forgotten: %+v, %v", st, err)
	}
	if r := srv.Requests(); r["POST batches"] != 4 {
		t.Errorf("requests %v: want the forgotten batch submitted again", r)
	}
	if m, _ := srv.Member(testList, "m3@example.com"); m.MergeFields["FNAME"] != "New" {
		t.Errorf("member %+v", m)
	}
	if bad := srv.Bad(); len(bad) > 0 {
		t.Errorf("malformed requests: %q", bad)
	}
}

// TestBatchReplayThroughRunner: through the runner and the SQLite state
// store, a run whose second batch of rows waits on a batch that does not
// finish fails with its position after the first; the rerun replays the
// second batch of rows (same etl.BatchKey) and fetches the results of the
// batch it already submitted: no operation is submitted twice, every row
// lands once, the refused one is quarantined.
func TestBatchReplayThroughRunner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := mailchimptest.Start(testKey, testList)
	defer srv.Close()
	srv.Refuse("m7@example.com", "Invalid Resource")
	conn := connection(t, srv)
	var batches []*etl.Batch
	for k := range 2 {
		var rows [][]string
		for i := range 5 {
			rows = append(rows, []string{fmt.Sprintf("m%d@example.com", 5*k+i), "Ann", "", "bikes"})
		}
		b := etltest.StringBatch("leads.csv", int64(2+5*k), `{}`, []string{"email", "first_name", "status", "interests"}, rows...)
		b.Position = etl.Position(fmt.Sprintf(`{"line":%d}`, 7+5*k))
		batches = append(batches, b)
	}
	runJob := func(stallSecond bool) (etl.Run, error) {
		target, err := mailchimp.New(mailchimp.TargetConfig{List: testList, Email: "email", Map: map[string]string{"FNAME": "first_name"},
			Tags: "interests", BatchOperationsOver: 2, BatchPollInterval: time.Second, BatchTimeout: time.Minute}, etl.BuildEnv{Connection: conn})
		if err != nil {
			t.Fatal(err)
		}
		src := &etltest.Source{Batches: batches}
		if stallSecond {
			// The first batch of rows goes through (its PUTs, then its
			// tags); the second's batch operation is submitted and never
			// finishes.
			srv.SetBatchStallFrom(3)
		}
		runner := &etl.Runner{Store: store, Owner: "test", Clock: etltest.NewClock(t0)}
		return runner.Run(ctx, &etl.Job{Name: "leads", Source: src, Targets: []etl.NamedTarget{{Name: "leads[0] audience", Target: target}}}, etl.RunOptions{})
	}
	if _, err := runJob(true); err == nil || !strings.Contains(err.Error(), "after batch_timeout") {
		t.Fatalf("a run whose batch does not finish: %v", err)
	}
	before := srv.Requests()
	srv.SetBatchStall(false)
	run, err := runJob(false)
	if err != nil {
		t.Fatal(err)
	}
	after := srv.Requests()
	t.Logf("first run: %v; rerun: %v; counters %+v", before, after, run.Counters)
	// 5 PUTs and 5 tags for the first batch of rows, 5 PUTs for the
	// second (submitted once), then its 4 tags.
	if after["POST batches"] != before["POST batches"]+1 || srv.Operations() != 19 {
		t.Errorf("the rerun submitted %d batches, %d operations in all: want only the second's tags batch new, 19 operations",
			after["POST batches"]-before["POST batches"], srv.Operations())
	}
	if run.Read != 5 || run.Written != 4 || run.Rejected != 1 {
		t.Errorf("rerun counters %+v: want the second batch's 5 rows read, 4 written, 1 quarantined", run.Counters)
	}
	for i := range 10 {
		m, ok := srv.Member(testList, fmt.Sprintf("m%d@example.com", i))
		if ok == (i == 7) || (ok && !m.Tags["bikes"]) {
			t.Errorf("m%d: %+v (present %v)", i, m, ok)
		}
	}
}

// TestDryRunTellsBatches: a dry run says when a batch of rows would go
// through /batches, and sends nothing.
func TestDryRunTellsBatches(t *testing.T) {
	t.Parallel()
	srv := mailchimptest.Start(testKey, testList)
	defer srv.Close()
	for _, over := range []int{1, 0} {
		tg, err := mailchimp.New(mailchimp.TargetConfig{List: testList, Email: "email", BatchOperationsOver: over}, etl.BuildEnv{Connection: connection(t, srv)})
		if err != nil {
			t.Fatal(err)
		}
		lines, err := tg.DryRun(context.Background(), etl.TargetEnv{Name: "t"}, leads([]string{"a@example.com", "", "", ""}, []string{"b@example.com", "", "", ""}))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(lines, "\n")
		if says := strings.Contains(got, "more than batch_operations_over (1) members: sent as operations of one POST /batches"); says != (over == 1) {
			t.Errorf("batch_operations_over %d, 2 members: dry run\n%s", over, got)
		}
	}
	if r := srv.Requests(); len(r) != 0 {
		t.Errorf("a dry run sent %v", r)
	}
}
