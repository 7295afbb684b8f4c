package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestQuarantineListEscapesTerminalControls: values from the data were
// printed as they were, so an escape sequence in a CSV cell drove the
// terminal of whoever listed the quarantine (colours, a cleared screen, a
// retitled window), and a bidi override reordered the line.
func TestQuarantineListEscapesTerminalControls(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.csv"), "id,score\n1,\x1b[2J\x1b]0;owned\x07\n2,\u202eevil\n3,7\n4,\xff\xfe\n")
	writeFile(t, filepath.Join(dir, "nightjar.yaml"), `jobs:
  j:
    source: { type: files, path: in.csv, settle: 0s, csv: { encoding: utf-8 } }
    steps: [ { cast: { score: int } } ]
    on_reject: { max_ratio: 0 }
    targets: [ { type: file, path: out.csv } ]
`)
	cfg := filepath.Join(dir, "nightjar.yaml")
	if code, out, errOut := nightjar(t, "run", "-c", cfg, "j"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := nightjar(t, "quarantine", "list", "-c", cfg, "j")
	if code != 0 {
		t.Fatalf("quarantine list: exit %d\n%s", code, errOut)
	}
	for _, raw := range []string{"\x1b", "\x07", "\u202e", "\xff"} {
		if strings.Contains(out, raw) {
			t.Errorf("quarantine list printed %q as is:\n%q", raw, out)
		}
	}
	for _, shown := range []string{`\x1b[2J\x1b]0;owned\a`, `\u202eevil`, `\xff\xfe`} {
		if !strings.Contains(out, shown) {
			t.Errorf("quarantine list does not show %s:\n%s", shown, out)
		}
	}
}

func TestOneLineKeepsCharactersWhole(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"Müller", 6, "Müller"},
		{"Müllerin", 6, "Mülle…"},
		{"a\nb", 5, "a b"},
		{"日本語テキスト", 4, "日本語…"},
	} {
		if got := oneLine(tc.in, tc.max); got != tc.want {
			t.Errorf("oneLine(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
