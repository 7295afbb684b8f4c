package mailchimp_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/mailchimp"
	"github.com/nightjar-etl/nightjar/connectors/mailchimp/mailchimptest"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// TestSegmentFollowsOutput runs a segment job through the runner and the
// SQLite state store, run after run, while rows enter and leave the job's
// output and members unsubscribe in Mailchimp. Each run is, at random, a
// full refresh read to the end, a full refresh cut by a row limit, or an
// incremental run that reads only some rows (as the files source skips
// loaded files and a cursor reads what changed). After each run the
// members carrying the tag are exactly the plain reference's: a row read
// adds its member; a full pass leaves only the output's members; nothing
// else removes the tag. Members who unsubscribed stay unsubscribed.
func TestSegmentFollowsOutput(t *testing.T) {
	t.Parallel()
	const tag = "qualified-lead"
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "mailchimp-segment-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		store, err := sqlitestore.Open(ctx, filepath.Join(dir, "state.db"))
		if err != nil {
			rt.Fatal(err)
		}
		defer store.Close()
		runner := &etl.Runner{Store: store, Owner: "test"}
		srv := mailchimptest.Start(testKey, testList)
		defer srv.Close()
		conn := connection(rt, srv)

		emails := make([]string, rapid.IntRange(1, 10).Draw(rt, "members"))
		for i := range emails {
			emails[i] = fmt.Sprintf("m%d@example.com", i)
		}
		output := map[string]string{} // email → first name: the job's output now
		tagged := map[string]bool{}   // the reference: who must carry the tag
		unsubscribed := map[string]bool{}

		for run := range rapid.IntRange(1, 8).Draw(rt, "runs") {
			// Rows enter and leave the output, or change.
			for _, e := range emails {
				switch rapid.IntRange(0, 3).Draw(rt, "change "+e) {
				case 0:
					delete(output, e)
				case 1:
					output[e] = rapid.SampledFrom([]string{"Ann", "Bo", "Cy"}).Draw(rt, "name "+e)
				}
			}
			// Someone unsubscribes in Mailchimp between runs.
			if e := rapid.SampledFrom(emails).Draw(rt, "unsubscribes"); rapid.Bool().Draw(rt, "unsubscribe?") {
				if m, ok := srv.Member(testList, e); ok {
					m.Status = "unsubscribed"
					srv.Put(testList, m)
					unsubscribed[e] = true
				}
			}
			kind := rapid.SampledFrom([]string{"full", "full+limit", "incremental"}).Draw(rt, "kind")
			members := slices.Sorted(func(yield func(string) bool) {
				for e := range output {
					if !yield(e) {
						return
					}
				}
			})
			input := members
			if kind == "incremental" {
				input = nil
				for _, e := range members {
					if rapid.Bool().Draw(rt, "read "+e) {
						input = append(input, e)
					}
				}
			}
			input = rapid.Permutation(input).Draw(rt, "order")
			var batches []*etl.Batch
			for start := 0; start < len(input); {
				n := min(rapid.IntRange(1, 3).Draw(rt, "batch"), len(input)-start)
				var rows [][]string
				for _, e := range input[start : start+n] {
					rows = append(rows, []string{e, output[e], "", ""})
				}
				batches = append(batches, leads(rows...))
				batches[len(batches)-1].Position = etl.Position(fmt.Sprintf(`"run %d batch %d"`, run, len(batches)))
				start += n
			}
			opts := etl.RunOptions{FullRefresh: kind != "incremental"}
			if kind == "full+limit" {
				opts.Limit = int64(rapid.IntRange(1, len(input)+1).Draw(rt, "limit"))
			}
			// The reference: what the run reads, and whether it reads it all.
			read, rows, endOfInput := []string{}, int64(0), true
			for _, b := range batches {
				if opts.Limit > 0 && rows >= opts.Limit {
					endOfInput = false
					break
				}
				for i := 0; i < b.Len(); i++ {
					e, _ := b.Cols[0].Text(i)
					read = append(read, e)
				}
				rows += int64(b.Len())
			}
			if opts.Limit > 0 && rows >= opts.Limit {
				endOfInput = false
			}
			if opts.FullRefresh && endOfInput {
				clear(tagged)
			}
			for _, e := range read {
				tagged[e] = true
			}

			target, err := mailchimp.New(mailchimp.TargetConfig{List: testList, Email: "email", Map: map[string]string{"FNAME": "first_name"}, Segment: tag},
				etl.BuildEnv{Connection: conn})
			if err != nil {
				rt.Fatal(err)
			}
			job := &etl.Job{Name: "leads", Source: &etltest.Source{Batches: batches},
				Targets: []etl.NamedTarget{{Name: "leads[0] audience", Target: target}}}
			if _, err := runner.Run(ctx, job, opts); err != nil {
				rt.Fatalf("run %d (%s): %v", run, kind, err)
			}
			want := slices.Sorted(func(yield func(string) bool) {
				for e := range tagged {
					if !yield(e) {
						return
					}
				}
			})
			got := srv.Tagged(testList, tag)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				rt.Fatalf("after run %d (%s, read %v of output %v): tagged %v, want %v", run, kind, read, members, got, want)
			}
			for e := range unsubscribed {
				if m, _ := srv.Member(testList, e); m.Status != "unsubscribed" {
					rt.Fatalf("after run %d: %s unsubscribed in Mailchimp is %s", run, e, m.Status)
				}
			}
		}
		if bad := srv.Bad(); len(bad) > 0 {
			rt.Fatalf("malformed requests: %q", bad)
		}
	})
}
