package files_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/files"
)

// TestLedgerSearch drops, grows, replaces, truncates and drops again
// CSV or JSON Lines files in a folder between runs that fail at random batches, and
// checks the rows loaded against a plain model of the ledger's rules
// applied at each run that succeeds: a content loaded once is not loaded
// again (under any name), a file that only grew (whole lines) adds its
// new lines, any other change loads the file whole, and a run that fails
// takes nothing from the run after it: every row is loaded as often as
// the model says. Files of one line count have one size (same-size
// files are hashed before they are read, others while they are read),
// and lines are ASCII, UTF-8 or Windows-1252, so both ways of hashing,
// the encoding decisions and resumes in the middle of files are all
// taken. A file replaced or truncated after a failed run may have been
// loaded in part by it: its rows are allowed one load more or less for
// each such change; so are those of a file that grows after a failed run
// and is not UTF-8 then.
func TestLedgerSearch(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		e := setupLoad(t)
		format := rapid.SampledFrom([]string{"csv", "jsonl"}).Draw(rt, "format")
		m := newLedgerModel(format)
		names := []string{"a." + format, "b." + format, "c." + format}
		batch := rapid.IntRange(1, 3).Draw(rt, "batch")
		nextID := 0
		lines := func(n int) []mline {
			var out []mline
			for range n {
				nextID++
				out = append(out, mline{id: nextID, name: rapid.SampledFrom([]string{"abcd", "abcd", "né!", "n\xe9!!"}).Draw(rt, "name")})
			}
			return out
		}
		write := func(name string, ls []mline) {
			m.files[name] = ls
			if err := os.WriteFile(filepath.Join(e.dir, "in", name), []byte(m.content(ls)), 0o644); err != nil {
				rt.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(e.dir, "in"), 0o755); err != nil {
			rt.Fatal(err)
		}
		cfg := files.SourceConfig{Path: "in/*." + format, Format: format}
		dirty := false // a run failed since the last one that succeeded
		run := func(failAt int) {
			r, err := e.run(cfg, batch, failAt)
			if err == nil {
				m.run()
				dirty = false
				return
			}
			if failAt == 0 || !strings.Contains(err.Error(), "target down") {
				rt.Fatalf("run: %+v, %v", r.Counters, err)
			}
			dirty = true
		}
		for range rapid.IntRange(1, 10).Draw(rt, "steps") {
			name := rapid.SampledFrom(names).Draw(rt, "file")
			cur, exists := m.files[name]
			switch op := rapid.SampledFrom([]string{"drop", "grow", "replace", "truncate", "redrop", "run", "run"}).Draw(rt, "op"); {
			case op == "run":
				run(rapid.IntRange(0, 6).Draw(rt, "fail at batch"))
			case op == "grow" && exists:
				grown := append(slices.Clip(cur), lines(rapid.IntRange(1, 3).Draw(rt, "more"))...)
				if dirty && !utf8.ValidString(m.content(grown)) {
					// Not UTF-8 (or no longer): read through a decoding, its
					// positions hold the whole file's hash, which its growth
					// changes, or its loaded part would now read otherwise;
					// a failed run's rows of it are loaded again (as before
					// hashing while reading).
					m.loosen(cur)
				}
				write(name, grown)
			case op == "truncate" && exists && len(cur) > 0:
				if dirty {
					m.loosen(cur)
				}
				write(name, cur[:rapid.IntRange(0, len(cur)-1).Draw(rt, "keep")])
			case op == "redrop" && len(m.ledger) > 0:
				// The same bytes as a content loaded before, under any name.
				c := rapid.SampledFrom(slices.Sorted(maps.Keys(m.ledger))).Draw(rt, "loaded content")
				if exists && dirty {
					m.loosen(cur)
				}
				write(name, m.ledger[c])
			case op == "drop" || op == "replace":
				if exists && dirty {
					m.loosen(cur)
				}
				// As many lines as before half the time: the same size.
				n := rapid.IntRange(0, 4).Draw(rt, "lines")
				if exists && rapid.Bool().Draw(rt, "same size") {
					n = len(cur)
				}
				ls := lines(n)
				if dirty && exists {
					m.loosen(ls)
				}
				write(name, ls)
			}
		}
		for range 3 {
			if run(0); !dirty {
				break
			}
		}
		got := map[int]int{}
		for _, id := range e.ids() {
			n, err := strconv.Atoi(id)
			if err != nil {
				rt.Fatalf("id %q", id)
			}
			got[n]++
		}
		for id := 1; id <= nextID; id++ {
			want := m.loads[id]
			if d := got[id] - want; d < -m.loose[id] || d > m.loose[id] {
				rt.Fatalf("row %d loaded %d times, want %d (give or take %d); ledger:\n%s", id, got[id], want, m.loose[id], ledgerText(e))
			}
		}
	})
}

func ledgerText(e *loadEnv) string {
	var b strings.Builder
	for _, r := range e.ledger() {
		fmt.Fprintf(&b, "  %s %d bytes %s %s run %d\n", r.Path, r.Size, r.SHA256[:min(len(r.SHA256), 12)], r.Status, r.RunID)
	}
	return b.String()
}

// mline is a line of a model file: its id and its name field.
type mline struct {
	id   int
	name string
}

// content is a file of lines ls in the model's format.
func (m *ledgerModel) content(ls []mline) string {
	var b strings.Builder
	if m.format == "csv" {
		b.WriteString("id,name\n")
	}
	for _, l := range ls {
		if m.format == "csv" {
			fmt.Fprintf(&b, "%05d,%s\n", l.id, l.name)
		} else {
			fmt.Fprintf(&b, `{"id":"%05d","name":"%s"}`+"\n", l.id, l.name)
		}
	}
	return b.String()
}

// ledgerModel is the plain reference: the files in the folder, the
// contents loaded (by content, with their lines), the content last loaded
// from each path, and how often each row was loaded.
type ledgerModel struct {
	format string
	files  map[string][]mline
	ledger map[string][]mline
	last   map[string]string
	loads  map[int]int
	// loose counts, for each row, the changes after failed runs that may
	// each have loaded it once more, or once less, than the model says.
	loose map[int]int
}

func newLedgerModel(format string) *ledgerModel {
	return &ledgerModel{format: format, files: map[string][]mline{}, ledger: map[string][]mline{}, last: map[string]string{},
		loads: map[int]int{}, loose: map[int]int{}}
}

// run is a run that succeeds: each file in name order is skipped when its
// content was loaded, adds its new lines when it only grew since the last
// load from its path (its loaded part ASCII, or the whole file UTF-8), and
// is loaded whole otherwise.
func (m *ledgerModel) run() {
	for _, name := range slices.Sorted(maps.Keys(m.files)) {
		ls := m.files[name]
		c := m.content(ls)
		if _, loaded := m.ledger[c]; loaded {
			continue
		}
		from := 0
		if last := m.last[name]; len(last) < len(c) && strings.HasPrefix(c, last) && strings.HasSuffix(last, "\n") &&
			(ascii(last) || utf8.ValidString(c)) {
			from = strings.Count(last, "\n")
			if m.format == "csv" {
				from-- // the header
			}
		}
		for _, l := range ls[from:] {
			m.loads[l.id]++
		}
		m.ledger[c], m.last[name] = ls, c
	}
}

// loosen marks rows that a failed run may have loaded in part.
func (m *ledgerModel) loosen(ls []mline) {
	for _, l := range ls {
		m.loose[l.id]++
	}
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
