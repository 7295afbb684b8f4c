package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/zendesk/zendesktest"
)

// TestHelpdeskTicketsSurviveSIGKILL: a job makes Zendesk tickets of the
// handed-off conversations in a chat log; the nightjar process is
// SIGKILLed at random requests (after the fake Zendesk did the work and
// before it answered: the worst moment) and run again until a run
// completes; then two conversations get new messages (and one a new
// status) and the job runs again, killed once more. Each handed-off
// conversation has exactly one ticket, whose comments are its messages,
// each once, in order: the second round added exactly the new ones. The
// API token never shows in the output.
func TestHelpdeskTicketsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and kills the binary")
	}
	bin := nightjarBinary(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	srv := zendesktest.New(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, `state: .nightjar/state.db
connections:
  zendesk:
    type: zendesk
    base_url: "`+srv.URL+`"
    email: `+srv.User+`
    api_token: "${NJ_TEST_ZENDESK_TOKEN}"
    rate_limit: { requests: 100000, per: 1s }
jobs:
  handoffs:
    batch_size: 4
    source: { type: files, path: "in/*.jsonl" }
    steps:
      - filter: 'handoff'
      - set: { message_id: 'ts + " " + role', text: 'role + ": " + text' }
    targets:
      - type: helpdesk
        connection: zendesk
        object: tickets
        key: conversation_id
        comment: { key: message_id, body: text }
        map: { status: status }
`)
	// Conversations: 10, each 1 to 5 messages; 7 handed off.
	type message struct{ conv, ts, role, text, status string }
	var all []message
	convs := 10
	handoff := map[string]bool{}
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for c := 0; c < convs; c++ {
		conv := fmt.Sprintf("conv-%02d", c)
		handoff[conv] = c%3 != 2
		for m := 0; m < 1+rng.IntN(5); m++ {
			at = at.Add(time.Duration(1+rng.IntN(90)) * time.Second)
			all = append(all, message{conv, at.Format(time.RFC3339), []string{"user", "bot", "agent"}[rng.IntN(3)],
				fmt.Sprintf("%s says %d", conv, rng.IntN(1000)), "open"})
		}
	}
	writeMessages := func(name string, ms []message) {
		var b strings.Builder
		for _, m := range ms {
			fmt.Fprintf(&b, `{"conversation_id":%q,"ts":%q,"role":%q,"text":%q,"status":%q,"handoff":%t}`+"\n",
				m.conv, m.ts, m.role, m.text, m.status, handoff[m.conv])
		}
		path := filepath.Join(dir, "in", name)
		writeFile(t, path, b.String())
		old := time.Now().Add(-time.Hour) // settled: no wait
		os.Chtimes(path, old, old)
	}
	const token = "zd-t0ken-5ecret"
	srv.Token = token
	env := append(os.Environ(), "NJ_TEST_ZENDESK_TOKEN="+token)

	var outputs []string
	// runUntilDone runs the job, killing it at a random request `kills`
	// times, then lets a run complete.
	runUntilDone := func(kills int) {
		for attempt := 0; ; attempt++ {
			if attempt > 20 {
				t.Fatal("no run completed after 20 attempts")
			}
			cmd := exec.Command(bin, "run", "-c", cfg, "handoffs")
			cmd.Env = env
			out := &syncBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			var once sync.Once
			killAt := -1
			if attempt < kills {
				killAt = srv.Requests() + 1 + rng.IntN(12)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Set once the process exists (the server's lock orders it
			// before the hook reads cmd.Process); a request sent before
			// would only let this run go unkilled.
			proc := cmd.Process
			srv.SetBeforeAnswer(func(n int, _ *http.Request) bool {
				if n == killAt {
					once.Do(func() { proc.Signal(syscall.SIGKILL) })
					return true
				}
				return false
			})
			err := cmd.Wait()
			srv.SetBeforeAnswer(nil)
			outputs = append(outputs, out.String())
			if err == nil {
				return
			}
			if killAt < 0 || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("run failed without a kill: %v\n%s", err, out)
			}
			t.Logf("killed at request %d", killAt)
		}
	}
	check := func(ms []message) {
		t.Helper()
		want := map[string][]string{}
		status := map[string]string{}
		for _, m := range ms {
			if handoff[m.conv] {
				want[m.conv] = append(want[m.conv], m.role+": "+m.text)
				status[m.conv] = m.status
			}
		}
		got := srv.Tickets()
		if len(got) != len(want) {
			t.Fatalf("%d tickets for %d handed-off conversations", len(got), len(want))
		}
		for _, tk := range got {
			if !slices.Equal(tk.Comments, want[tk.ExternalID]) {
				t.Fatalf("%s: comments\n got %q\nwant %q", tk.ExternalID, tk.Comments, want[tk.ExternalID])
			}
			if tk.Status != status[tk.ExternalID] {
				t.Fatalf("%s: status %q, want %q", tk.ExternalID, tk.Status, status[tk.ExternalID])
			}
		}
	}

	writeMessages("round-1.jsonl", all)
	runUntilDone(2)
	check(all)

	// Two handed-off conversations get new messages; one is solved.
	var more []message
	for _, conv := range []string{"conv-00", "conv-04"} {
		for m := 0; m < 2; m++ {
			at = at.Add(time.Minute)
			more = append(more, message{conv, at.Format(time.RFC3339), "user", fmt.Sprintf("%s follows up %d", conv, m), "open"})
		}
	}
	more[len(more)-1].status = "solved"
	before := srv.Tickets()
	writeMessages("round-2.jsonl", more)
	runUntilDone(1)
	all = append(all, more...)
	check(all)
	for i, tk := range srv.Tickets() {
		added := len(tk.Comments) - len(before[i].Comments)
		if want := map[string]int{"conv-00": 2, "conv-04": 2}[tk.ExternalID]; added != want {
			t.Errorf("%s: %d comments added in round 2, want %d", tk.ExternalID, added, want)
		}
	}
	for _, out := range outputs {
		if strings.Contains(out, token) {
			t.Fatalf("the output shows the API token:\n%s", out)
		}
	}
}

// TestExampleHelpdeskDryRun: the example project's handoffs job shows the
// tickets and comments it would send without a Zendesk account, and sends
// nothing; the token given in the environment is not printed.
func TestExampleHelpdeskDryRun(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := nightjar(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, errOut)
	}
	t.Setenv("ZENDESK_TOKEN", "zd-example-5ecret")
	code, out, errOut := nightjar(t, "run", "-c", filepath.Join(dir, "helpdesk.yaml"), "--dry-run", "handoffs")
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"POST /api/v2/tickets: 8 request(s)", `"external_id":"conv-001"`, "PUT /api/v2/tickets/{id}: 34 request(s)", "nothing written"} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, "zd-example-5ecret") {
		t.Errorf("the dry run shows the token")
	}
}
