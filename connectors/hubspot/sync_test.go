package hubspot_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/nightjar-etl/nightjar/connectors/csvfile" // the csv format
	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/connectors/hubspot"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// writeExport writes the night's full export of n leads, as a CRM export
// job would: every lead every night, with the export's date in a column
// HubSpot is not sent (so the file's bytes differ each night).
func writeExport(t *testing.T, dir, night string, n int, change func(i int, name string) string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("email,first_name,score,exported_at\n")
	for i := range n {
		name := fmt.Sprintf("Ada %d", i)
		if change != nil {
			name = change(i, name)
		}
		fmt.Fprintf(&b, "lead%d@example.com,%s,%d,%s\n", i, name, i%100, night)
	}
	if err := os.WriteFile(filepath.Join(dir, "leads-"+night+".csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNightlySyncSendsOnlyChanges runs a nightly full sync of 500 leads
// through the runner, the SQLite state store and the files source: the
// second night (same leads) sends nothing, the third (one lead changed)
// sends exactly that lead; --full-refresh sends all again.
func TestNightlySyncSendsOnlyChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	em := newEmulator(t, testToken)
	conn := connection(em.URL)
	conn.Config.(*hubspot.ConnConfig).RateLimit.Per = time.Second
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runner := &etl.Runner{Store: st, Owner: "test"}

	night := func(name string, full bool) (hubspot.Stats, etl.Run) {
		t.Helper()
		src, err := files.NewSource(files.SourceConfig{Path: "*.csv", Format: "csv", CSV: files.DefaultSourceConfig().CSV}, etl.BuildEnv{BaseDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		tg, err := hubspot.New(contactsCfg, etl.BuildEnv{Connection: conn})
		if err != nil {
			t.Fatal(err)
		}
		job := &etl.Job{Name: "leads", Source: src, BatchSize: 200,
			Targets: []etl.NamedTarget{{Name: "targets[0] crm contacts", Target: tg}}}
		run, err := runner.Run(ctx, job, etl.RunOptions{FullRefresh: full})
		if err != nil {
			t.Fatalf("night %s: %v", name, err)
		}
		return tg.Stats(), run
	}

	writeExport(t, dir, "2026-11-24", 500, nil)
	s1, r1 := night("1", false)
	if s1.Sent != 500 || em.inputs != 500 || r1.Read != 500 {
		t.Fatalf("night 1: stats %+v, emulator got %d inputs, run read %d; want 500", s1, em.inputs, r1.Read)
	}

	writeExport(t, dir, "2026-11-25", 500, nil)
	s2, r2 := night("2", false)
	if r2.Read != 500 {
		t.Fatalf("night 2 read %d rows, want the 500 of the new export", r2.Read)
	}
	if s2.Sent != 0 || s2.Unchanged != 500 || em.inputs != 500 {
		t.Errorf("night 2 (no change): stats %+v, emulator total %d inputs; want 0 sent", s2, em.inputs)
	}

	writeExport(t, dir, "2026-11-26", 500, func(i int, name string) string {
		if i == 321 {
			return "Grace"
		}
		return name
	})
	requests := em.requests
	s3, _ := night("3", false)
	if s3.Sent != 1 || em.inputs != 501 || em.requests != requests+1 {
		t.Errorf("night 3 (one change): stats %+v, emulator total %d inputs in %d more requests; want exactly 1", s3, em.inputs, em.requests-requests)
	}
	if got := em.records["contacts/lead321@example.com"]["firstname"]; got != "Grace" {
		t.Errorf("lead321 firstname = %q", got)
	}

	s4, _ := night("full refresh", true)
	if s4.Sent != 1500 || s4.Unchanged != 0 {
		t.Errorf("full refresh: stats %+v, want all 1500 rows of the three exports sent", s4)
	}
}

// outageJob is three batches of 100 leads from a replaying source.
func outageJob(t *testing.T, conn *etl.Connection) (*etl.Job, *hubspot.Target) {
	t.Helper()
	tg, err := hubspot.New(contactsCfg, etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	var batches []*etl.Batch
	for k := range 3 {
		b := leadBatch(300, "")
		keep := make([]bool, 300)
		for i := k * 100; i < (k+1)*100; i++ {
			keep[i] = true
		}
		b.Keep(keep)
		b.Position = etl.Position(fmt.Sprintf(`"batch %d"`, k+1))
		batches = append(batches, b)
	}
	return &etl.Job{Name: "leads", Source: &etltest.Source{Batches: batches},
		Targets: []etl.NamedTarget{{Name: "targets[0] crm contacts", Target: tg}}}, tg
}

func TestOutageWithinRetryBudgetLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := etltest.NewClock(epoch)
	em := newEmulator(t, testToken)
	em.now = clock.Now
	// Down for the first 40 s, as a deploy of the API would be.
	em.down = func(now time.Time, _ int) bool { return now.Before(epoch.Add(40 * time.Second)) }
	conn := connection(em.URL)
	cc := conn.Config.(*hubspot.ConnConfig)
	cc.MaxRetries, cc.MaxWait = 20, 2*time.Minute
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	job, tg := outageJob(t, conn)
	run, err := (&etl.Runner{Store: st, Owner: "test", Clock: clock}).Run(ctx, job, etl.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if clock.Now().Sub(epoch) < 40*time.Second {
		t.Fatalf("the run ended at +%v, before the outage did", clock.Now().Sub(epoch))
	}
	if run.Read != 300 || run.Written != 300 || run.Rejected != 0 || run.Batches != 3 {
		t.Errorf("counters = %+v", run.Counters)
	}
	if s := tg.Stats(); s.Sent != 300 || s.Requests != 3 {
		t.Errorf("target stats = %+v, want 300 sent in 3 answered requests", s)
	}
	for key, n := range em.seen {
		if n != 1 {
			t.Errorf("%s upserted %d times", key, n)
		}
	}
	if len(em.seen) != 300 || em.inputs != 300 {
		t.Errorf("emulator holds %d records from %d inputs, want 300 / 300", len(em.seen), em.inputs)
	}
}

func TestOutageBeyondRetryBudgetKeepsPosition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := etltest.NewClock(epoch)
	em := newEmulator(t, testToken)
	em.now = clock.Now
	// Batch 1 gets through; then the API is down for an hour.
	em.down = func(now time.Time, request int) bool { return request > 1 && now.Before(epoch.Add(time.Hour)) }
	conn := connection(em.URL)
	conn.Config.(*hubspot.ConnConfig).MaxWait = 2 * time.Minute
	conn.Config.(*hubspot.ConnConfig).MaxRetries = 50
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runner := &etl.Runner{Store: st, Owner: "test", Clock: clock}
	job, _ := outageJob(t, conn)
	run, err := runner.Run(ctx, job, etl.RunOptions{})
	if !errors.Is(err, httpapi.ErrRetriesExhausted) || run.Status != etl.RunFailed {
		t.Fatalf("run = %+v, err = %v; want a failed run, retries exhausted", run, err)
	}
	cp, err := st.Checkpoint(ctx, "leads", "")
	if err != nil {
		t.Fatal(err)
	}
	if string(cp.Position) != `"batch 1"` {
		t.Errorf("position after the failed run = %s, want batch 1 (the last delivered)", cp.Position)
	}

	clock.Advance(time.Hour) // the API is back
	job, tg := outageJob(t, conn)
	run, err = runner.Run(ctx, job, etl.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Read != 200 || tg.Stats().Sent != 200 {
		t.Errorf("later run read %d, sent %d; want the 200 leads after batch 1", run.Read, tg.Stats().Sent)
	}
	if len(em.seen) != 300 || em.inputs != 300 {
		t.Errorf("emulator holds %d records from %d inputs, want 300 / 300: nothing lost, nothing twice", len(em.seen), em.inputs)
	}
}
