package cluster

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	_ "github.com/nightjar-etl/nightjar/connectors/csvfile" // the csv format
	_ "github.com/nightjar-etl/nightjar/connectors/files"   // file sources and targets
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/jobs/config"
)

// TestTicksOfOneJobNeverOverlap: runs longer than their job's interval
// on a worker taking four runs at once. A tick of a job that is running
// in the same process waits its turn: the runs of one job never overlap
// (a process's runs share its lease, so the lease cannot keep them
// apart), every tick still runs, and two jobs do run at once. The jobs
// have one-letter names, which River refused as periodic job IDs.
func TestTicksOfOneJobNeverOverlap(t *testing.T) {
	t.Parallel()
	st := testStore(t, "nightjar_overlap_")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "nightjar.yaml")
	var yaml string
	for _, job := range []string{"a", "b"} {
		yaml += "  " + job + `:
    schedule: "@every 1s"
    source: { type: files, path: in.csv }
    targets:
      - { type: file, path: out.csv }
`
	}
	if err := os.WriteFile(cfgPath, []byte("jobs:\n"+yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		inFlight = map[string]int{}
		most     = map[string]int{} // the most runs of a job in flight at once
		both     bool               // runs of a and b were in flight together
		runs     = map[string]int{}
	)
	launch := func(ctx context.Context, job, trigger string, complete func(context.Context, pgx.Tx) error) (etl.Run, error) {
		mu.Lock()
		inFlight[job]++
		runs[job]++
		most[job] = max(most[job], inFlight[job])
		both = both || inFlight["a"] > 0 && inFlight["b"] > 0
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight[job]--
			mu.Unlock()
		}()
		select { // longer than the interval: the next tick is due meanwhile
		case <-time.After(1500 * time.Millisecond):
		case <-ctx.Done():
			return etl.Run{}, ctx.Err()
		}
		return etl.Run{Job: job, Status: etl.RunSucceeded}, nil
	}
	w, err := Start(t.Context(), st.Pool(), st.Schema(), cfg, launch, Options{ID: "overlap", Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Stop(stop); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, job := range []string{"a", "b"} {
		if most[job] != 1 {
			t.Errorf("job %s: %d runs at once, want 1", job, most[job])
		}
		if runs[job] < 2 {
			t.Errorf("job %s ran %d times in 5 s of ticks a second apart, want 2 or more", job, runs[job])
		}
	}
	if !both {
		t.Error("runs of jobs a and b were never in flight together: the worker kept different jobs apart")
	}
}
