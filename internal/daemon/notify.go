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
	"github.com/nightjar-etl/nightjar/jobs"
)

// notifier posts to a Slack-compatible incoming webhook ({"text": ...})
// when a job's run fails for good (after its retries) and when a job that
// was failing succeeds again.
type notifier struct {
	url    string
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	failing map[string]bool
	wg      sync.WaitGroup
}

func newNotifier(url string, client *http.Client, log *slog.Logger) *notifier {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &notifier{url: url, client: client, log: log, failing: map[string]bool{}}
}

// seed marks as failing the jobs whose last run failed, so that a success
// after a restart is reported as a recovery.
func (n *notifier) seed(ctx context.Context, store jobs.History, cfg *jobs.Config) {
	for _, name := range cfg.JobNames() {
		runs, err := store.Runs(ctx, name, 1)
		if err == nil && len(runs) > 0 && runs[0].Status == etl.RunFailed {
			n.mu.Lock()
			n.failing[name] = true
			n.mu.Unlock()
		}
	}
}

// finished handles a run's final outcome.
func (n *notifier) finished(e jobs.Event, redact func(string) string) {
	if errors.Is(e.Err, etl.ErrStopped) {
		return
	}
	n.mu.Lock()
	was := n.failing[e.Job]
	n.failing[e.Job] = e.Err != nil
	n.mu.Unlock()
	var text string
	switch {
	case e.Err != nil:
		text = fmt.Sprintf(":x: nightjar: job *%s* failed (run %d, %s, attempt %d): %s",
			e.Job, e.Run.ID, e.Trigger, e.Attempt, redact(e.Err.Error()))
	case was:
		text = fmt.Sprintf(":white_check_mark: nightjar: job *%s* recovered (run %d): read %d, written %d, rejected %d",
			e.Job, e.Run.ID, e.Run.Read, e.Run.Written, e.Run.Rejected)
	default:
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.post(text); err != nil {
			// The URL is a secret: only the failure is logged.
			n.log.Warn("notify webhook", "job", e.Job, "err", err)
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
