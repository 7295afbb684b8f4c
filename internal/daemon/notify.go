package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/jobs/config"
	"github.com/nightjar-etl/nightjar/jobs/schedule"
)

// notifier posts to a Slack-compatible incoming webhook ({"text": ...}).
// What it posts is what the engineer on call needs, and no more:
//
//   - a run's first failure, at once, with its error and what happens next:
//     the retry and when it is due, or "permanent, not retried" (a config
//     or credentials error, a strict schema, too many rejects: someone has
//     to act), or that no retry is configured;
//   - the outcome of a run that was retried: recovered on attempt N, or
//     failed for good after N attempts with the last error (the retries
//     that fail in between are in the logs, /metrics and history);
//   - a retry that was announced and then not made because the daemon
//     stopped;
//   - the first success of a job that was failing.
//
// A job that keeps failing (a schedule of @every 2s against a target that
// is down) is not announced on every run: its later runs are quiet, but
// for a reminder at most every remindEvery saying since when and how many
// runs failed.
type notifier struct {
	url    string
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	failing map[string]bool
	// retrying holds, per job, the announced failure whose retry is due.
	retrying map[string]schedule.Event
	// Per failing job: when it was last announced, since when it fails,
	// how many of its runs failed, and whether the run going on is quiet.
	told       map[string]time.Time
	since      map[string]time.Time
	failedRuns map[string]int
	quiet      map[string]bool
	wg         sync.WaitGroup
}

// remindEvery is how often a job that keeps failing is announced again.
const remindEvery = time.Hour

func newNotifier(url string, client *http.Client, log *slog.Logger) *notifier {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &notifier{url: url, client: client, log: log, failing: map[string]bool{}, retrying: map[string]schedule.Event{},
		told: map[string]time.Time{}, since: map[string]time.Time{}, failedRuns: map[string]int{}, quiet: map[string]bool{}}
}

// seed marks as failing the jobs whose last run failed, so that a success
// after a restart is reported as a recovery.
func (n *notifier) seed(ctx context.Context, store schedule.History, cfg *config.Config) {
	for _, name := range cfg.JobNames() {
		runs, err := store.Runs(ctx, name, 1)
		if err == nil && len(runs) > 0 && runs[0].Status == etl.RunFailed {
			n.mu.Lock()
			n.failing[name] = true
			n.mu.Unlock()
		}
	}
}

// finished handles the end of every attempt of a run (EventFinished, Final
// or not).
func (n *notifier) finished(e schedule.Event, redact func(string) string) {
	n.mu.Lock()
	if e.Final {
		delete(n.retrying, e.Job)
	} else {
		n.retrying[e.Job] = e
	}
	if errors.Is(e.Err, etl.ErrStopped) {
		// A stopped run is resumed at the next start: nothing to report.
		n.mu.Unlock()
		return
	}
	was := n.failing[e.Job]
	n.failing[e.Job] = e.Err != nil
	text := ""
	switch {
	case e.Err == nil:
		delete(n.told, e.Job)
		delete(n.since, e.Job)
		delete(n.failedRuns, e.Job)
		delete(n.quiet, e.Job)
		text = message(e, was, redact)
	case e.Attempt <= 1 && was:
		// A new run of a job that was failing already.
		n.failedRuns[e.Job]++
		n.quiet[e.Job] = e.At.Sub(n.told[e.Job]) < remindEvery
		if !n.quiet[e.Job] {
			text = reminder(e, n.since[e.Job], n.failedRuns[e.Job], redact)
			n.told[e.Job] = e.At
		}
	case e.Attempt <= 1:
		n.failedRuns[e.Job], n.since[e.Job], n.told[e.Job], n.quiet[e.Job] = 1, e.At, e.At, false
		text = message(e, was, redact)
	case !n.quiet[e.Job]:
		text = message(e, was, redact)
	}
	n.mu.Unlock()
	if text != "" {
		n.send(e.Job, text)
	}
}

// reminder is the text posted, at most every remindEvery, for a job that
// keeps failing.
func reminder(e schedule.Event, since time.Time, runs int, redact func(string) string) string {
	from := "before the daemon started"
	if !since.IsZero() {
		from = clockTime(since)
	}
	return fmt.Sprintf(":warning: nightjar: job *%s* still failing: %d run(s) failed since %s, the last run %d: %s",
		e.Job, runs, from, e.Run.ID, redact(e.Err.Error()))
}

// message is the text posted for the end of an attempt; "" for none.
func message(e schedule.Event, wasFailing bool, redact func(string) string) string {
	run := fmt.Sprintf("run %d", e.Run.ID)
	if e.Run.ID == 0 {
		run = "no run begun"
	}
	attempt := fmt.Sprintf("attempt %d of %d", e.Attempt, max(e.MaxAttempts, e.Attempt))
	counts := fmt.Sprintf("read %d, written %d, rejected %d, skipped %d", e.Run.Read, e.Run.Written, e.Run.Rejected, e.Run.Skipped)
	if e.Err == nil {
		switch {
		case e.Attempt > 1:
			return fmt.Sprintf(":white_check_mark: nightjar: job *%s* recovered (%s, %s, %s): %s", e.Job, run, e.Trigger, attempt, counts)
		case wasFailing:
			return fmt.Sprintf(":white_check_mark: nightjar: job *%s* recovered (%s): %s", e.Job, run, counts)
		}
		return ""
	}
	if !e.Final && e.Attempt > 1 {
		// The first failure announced the retries.
		return ""
	}
	failed := fmt.Sprintf("job *%s* failed (%s, %s, %s): %s", e.Job, run, e.Trigger, attempt, redact(e.Err.Error()))
	switch {
	case !e.Final:
		return fmt.Sprintf(":warning: nightjar: %s\n→ retrying at %s (in %s)", failed,
			clockTime(e.RetryAt), e.RetryAt.Sub(e.At).Round(time.Second))
	case etl.IsPermanent(e.Err):
		return fmt.Sprintf(":x: nightjar: %s\n→ permanent failure, not retried: it needs a fix", failed)
	case e.Attempt > 1:
		return fmt.Sprintf(":x: nightjar: %s\n→ gave up after %d attempts", failed, e.Attempt)
	case e.Attempt < e.MaxAttempts:
		return fmt.Sprintf(":x: nightjar: %s\n→ not retried: the daemon is stopping", failed)
	}
	return fmt.Sprintf(":x: nightjar: %s\n→ not retried: the job has no retries", failed)
}

// clockTime formats t for a message: UTC, to the second.
func clockTime(t time.Time) string {
	return t.UTC().Round(time.Second).Format("2006-01-02 15:04:05 MST")
}

// stopped posts, for each retry announced and not made, that it will not
// be: the daemon stopped before it was due.
func (n *notifier) stopped() {
	n.mu.Lock()
	pending := n.retrying
	n.retrying = map[string]schedule.Event{}
	n.mu.Unlock()
	for job, e := range pending {
		n.send(job, fmt.Sprintf(":warning: nightjar: job *%s*: the retry due at %s was not made: the daemon stopped; the job runs again at its next scheduled time",
			job, clockTime(e.RetryAt)))
	}
}

// send posts text in the background.
func (n *notifier) send(job, text string) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.post(text); err != nil {
			// The URL is a secret: only the failure is logged.
			n.log.Warn("notify webhook", "job", job, "err", err)
		}
	}()
}

func (n *notifier) post(text string) error {
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return err
	}
	resp, err := n.client.Post(n.url, "application/json", bytes.NewReader(body))
	if err != nil {
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) && uerr.Unwrap() != nil {
			// *url.Error repeats the URL: keep only the cause.
			err = uerr.Unwrap()
		}
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post: status %s", resp.Status)
	}
	return nil
}

// wait waits for the notifications being posted.
func (n *notifier) wait() { n.wg.Wait() }
