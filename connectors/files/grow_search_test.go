package files_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/files"
)

// TestGrownFileSearch drops a CSV or JSON Lines file, loads it, appends
// lines to it (one of them now and then malformed) and loads again, and
// checks against a plain model: a file whose loaded part ended with a line
// break is read on from there, its new rows' origins (a malformed one's in
// quarantine) the lines they are on; one whose loaded part did not end
// with a line break is read whole, its last line perhaps cut where it was
// loaded. Half the time a file of another content but of the grown file's
// size was loaded first, so that the grown file is hashed whole before it
// is read (its loaded part hashed on the way) instead of while read.
func TestGrownFileSearch(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		format := rapid.SampledFrom([]string{"csv", "jsonl"}).Draw(rt, "format")
		head, line, bad, padLine := "id,name\n", "%d,n%d", "%d,x,too,many", "999,%s"
		if format == "jsonl" {
			head, line, bad, padLine = "", `{"id":"%d","name":"n%d"}`, `{"id":"%d",`, `{"id":"999","name":"%s"}`
		}
		first := 1 // the line the first record is on
		if head != "" {
			first = 2
		}
		var lines []string
		n := rapid.IntRange(1, 5).Draw(rt, "lines")
		for i := range n {
			lines = append(lines, fmt.Sprintf(line, i, i))
		}
		before := head + strings.Join(lines, "\n")
		ended := rapid.Bool().Draw(rt, "loaded part ends with a line break")
		if ended {
			before += "\n"
		}
		var more []string
		badAt := -1 // index in more of the malformed line
		k := rapid.IntRange(1, 3).Draw(rt, "more")
		if rapid.Bool().Draw(rt, "a malformed line") {
			badAt = rapid.IntRange(0, k-1).Draw(rt, "malformed")
		}
		for i := range k {
			if i == badAt {
				more = append(more, fmt.Sprintf(bad, 100+i))
			} else {
				more = append(more, fmt.Sprintf(line, 100+i, 100+i))
			}
		}
		after := before
		if !ended {
			after += "\n"
		}
		after += strings.Join(more, "\n") + "\n"

		e := setupLoad(t)
		name := "chat." + format
		writeFile(t, e.dir, "in/"+name, before)
		if rapid.Bool().Draw(rt, "a file of the grown size loaded first") {
			fill := len(after) - len(head) - len(fmt.Sprintf(padLine, "")) - 1
			pad := head + fmt.Sprintf(padLine, strings.Repeat("p", fill)) + "\n"
			if len(pad) != len(after) {
				rt.Fatalf("pad of %d bytes, want %d", len(pad), len(after))
			}
			writeFile(t, e.dir, "in/pad."+format, pad)
		}
		cfg := files.SourceConfig{Path: "in/*." + format, Format: format}
		if _, err := e.run(cfg, 2, 0); err != nil {
			rt.Fatalf("first run: %v", err)
		}
		q0 := len(e.quarantine())
		appendTo(t, filepath.Join(e.dir, "in", name), after[len(before):])
		run, err := e.run(cfg, 2, 0)
		if err != nil {
			rt.Fatalf("second run: %v", err)
		}
		// The model: what the second run reads, from which line.
		records, from := k, first+n
		if !ended {
			records, from = n+k, first
		}
		if run.Read != int64(records) {
			rt.Fatalf("second run read %d records, want %d (loaded part ends with a line break: %v):\n%q then %q",
				run.Read, records, ended, before, after)
		}
		var want []string
		if badAt >= 0 {
			want = append(want, fmt.Sprintf("in/%s:%d", name, first+n+badAt))
		}
		var got []string
		for _, q := range e.quarantine()[q0:] {
			got = append(got, strings.Fields(q)[0])
		}
		if !slices.Equal(got, want) {
			rt.Fatalf("quarantined %q, want %q (reading from line %d of %q)", got, want, from, after)
		}
	})
}
