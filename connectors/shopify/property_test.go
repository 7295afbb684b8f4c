package shopify_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// TestEveryVersionExactlyOnceAcrossShortResults is the incremental export
// against a plain reference: orders are created and changed in waves —
// some changes dated later than everything loaded, some landing late
// (dated inside the overlap window before the mark) — and each wave is
// exported by runs whose results come short at random (the run fails and
// is run again). Every version of every order (id at updatedAt) must be
// loaded exactly once: none lost to a short result or to the mark, none
// loaded again from the overlap.
func TestEveryVersionExactlyOnceAcrossShortResults(t *testing.T) {
	adminSchemaOrSkip(t)
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		a := newShopifyAPI(t)
		dir, err := os.MkdirTemp("", "shopprop")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		st, err := sqlitestore.Open(ctx, filepath.Join(dir, "state.db"))
		if err != nil {
			rt.Fatal(err)
		}
		defer st.Close()
		clock := httpapitest.NewClock(t0)
		var want, got []string
		version := func(o sorder) string { return o.id + "@" + o.updatedAt }
		mark := time.Time{}
		next := 0
		for w := range rapid.IntRange(1, 4).Draw(rt, "waves") {
			base := t0.Add(time.Duration(w) * time.Hour)
			// Changes to existing orders, at most one per order a wave.
			for i := range a.orders {
				if !rapid.Bool().Draw(rt, "change") {
					continue
				}
				at := base.Add(time.Duration(rapid.IntRange(0, 30).Draw(rt, "minute")) * time.Minute)
				if !mark.IsZero() && rapid.Bool().Draw(rt, "late") {
					// Dated inside the 10-minute overlap before the mark.
					at = mark.Add(-time.Duration(rapid.IntRange(0, 9*60).Draw(rt, "seconds early")) * time.Second)
				}
				prev, _ := time.Parse(time.RFC3339, a.orders[i].updatedAt)
				if !at.After(prev) {
					continue
				}
				a.orders[i].updatedAt = at.Format(time.RFC3339)
				a.orders[i].name = version(a.orders[i])
				want = append(want, a.orders[i].name)
			}
			for range rapid.IntRange(0, 5).Draw(rt, "new orders") {
				o := sorder{id: fmt.Sprintf("gid://shopify/Order/%d", next),
					updatedAt: base.Add(time.Duration(rapid.IntRange(0, 30).Draw(rt, "minute")) * time.Minute).Format(time.RFC3339)}
				if rapid.Bool().Draw(rt, "with items") {
					o.items = []string{"a", "b"}
				}
				o.name = version(o)
				want = append(want, o.name)
				a.orders = append(a.orders, o)
				next++
			}
			for attempt := 0; ; attempt++ {
				if attempt > 20 {
					rt.Fatalf("wave %d: still failing after 20 runs", w)
				}
				a.mu.Lock()
				a.short = 0
				if rapid.IntRange(0, 2).Draw(rt, "short") == 0 {
					a.short = 1
				}
				short := a.short
				a.mu.Unlock()
				rows, err := run(t, st, a, clock)
				for _, r := range rows {
					got = append(got, r.Name)
				}
				if err == nil {
					break
				}
				if short == 0 || !strings.Contains(err.Error(), "objectCount") {
					rt.Fatalf("wave %d: %v", w, err)
				}
			}
			for _, o := range a.orders {
				if at, _ := time.Parse(time.RFC3339, o.updatedAt); at.After(mark) {
					mark = at
				}
			}
		}
		sort.Strings(want)
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			rt.Fatalf("versions loaded (-want +got):\n%s", diff)
		}
		if len(a.invalid) > 0 {
			rt.Fatalf("invalid queries: %v", a.invalid)
		}
	})
}
