package graphql_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// TestEveryRecordExactlyOnceAcrossFailedRuns is the pages and the
// incremental mark against a plain reference: a shop whose orders come
// in waves (a wave's timestamps later than every earlier one, ties within
// it), read with random page and batch sizes while random requests
// answer HTTP 200 with errors; each failed run is simply run again. Every
// order must land exactly once: none lost past a failed page, none read
// twice from a position that did not move.
func TestEveryRecordExactlyOnceAcrossFailedRuns(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		s := newShop(t)
		first := rapid.IntRange(1, 6).Draw(rt, "page size")
		batch := rapid.IntRange(1, 5).Draw(rt, "batch size")
		for _, n := range rapid.SliceOfN(rapid.IntRange(1, 40), 0, 30).Draw(rt, "failing requests") {
			s.failAt[n] = true
		}
		dir, err := os.MkdirTemp("", "gqlprop")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		st, err := sqlitestore.Open(ctx, filepath.Join(dir, "state.db"))
		if err != nil {
			rt.Fatal(err)
		}
		defer st.Close()
		runner := &etl.Runner{Store: st, Owner: "test"}
		var want, got []string
		next := 0
		waves := rapid.IntRange(1, 3).Draw(rt, "waves")
		for w := range waves {
			size := rapid.IntRange(0, 12).Draw(rt, fmt.Sprintf("wave %d size", w))
			stamps := rapid.IntRange(1, 4).Draw(rt, fmt.Sprintf("wave %d timestamps", w))
			var wave []order
			for range size {
				o := order{ID: fmt.Sprintf("o%03d", next), Name: fmt.Sprintf("#%d", next), Total: 1,
					UpdatedAt: fmt.Sprintf("2026-%02d-%02dT00:00:00Z", w+1, 1+rapid.IntRange(0, stamps-1).Draw(rt, "stamp"))}
				wave = append(wave, o)
				want = append(want, o.Name)
				next++
			}
			s.add(wave...)
			for attempt := 0; ; attempt++ {
				if attempt > 60 {
					rt.Fatalf("wave %d: still failing after 60 runs", w)
				}
				tg := &etltest.Target{}
				_, err := runner.Run(ctx, &etl.Job{Name: "orders", Source: newSource(t, config(s, first)), BatchSize: batch,
					Targets: []etl.NamedTarget{{Name: "t", Target: tg}}}, etl.RunOptions{})
				for _, b := range tg.Written {
					for i := range b.Len() {
						got = append(got, b.Col("name").Str[i])
					}
				}
				if err == nil {
					break
				}
			}
		}
		sort.Strings(want)
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			rt.Fatalf("orders landed (-want +got):\n%s", diff)
		}
		if len(s.invalid) > 0 {
			rt.Fatalf("invalid queries: %v", s.invalid)
		}
	})
}
