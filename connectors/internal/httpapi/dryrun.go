package httpapi

import (
	"context"
	"fmt"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/internal/termtext"
)

// MaxDryRunBody caps the body a dry run shows: the first request's body
// is shown whole up to it, cut after it.
const MaxDryRunBody = 2048

// DryRun is what an API target would send for one batch: its requests,
// told without sending any.
type DryRun struct {
	// Method and Path are those of the batch's requests (Path may hold a
	// secret: Lines masks it).
	Method, Path string
	// Requests is how many requests the batch takes, for Records records.
	Requests, Records int
	// Unchanged is the records change detection would skip; NoID, the
	// rows without an id, which would be refused.
	Unchanged, NoID int
	// Body is the first request's body; Note, what else each request
	// does ("then associations to companies"), if anything.
	Body []byte
	Note string
}

// Lines are the dry run's lines for a terminal: the requests with their
// counts, then the first body, cut at MaxDryRunBody, on one line (a CSV
// body's line breaks, like any control character, escaped: \n); every
// secret red knows (and any form of it) is masked, before the cut.
func (d DryRun) Lines(red *Redactor) []string {
	line := fmt.Sprintf("%s %s: %d request(s) for %d record(s)", d.Method, red.Redact(d.Path), d.Requests, d.Records)
	if d.Unchanged > 0 {
		line += fmt.Sprintf(", %d unchanged record(s) skipped", d.Unchanged)
	}
	if d.NoID > 0 {
		line += fmt.Sprintf(", %d row(s) without an id refused", d.NoID)
	}
	lines := []string{line}
	if d.Note != "" {
		lines = append(lines, d.Note)
	}
	if d.Requests > 0 {
		lines = append(lines, fmt.Sprintf("first body (%d bytes): %s", len(d.Body), termtext.Escape(red.Snippet(string(d.Body), MaxDryRunBody))))
	}
	return lines
}

// DryDeliver is Deliver without sending: it collects b's records, reads
// change detection (saving nothing) to leave out the unchanged ones, and
// fills a DryRun with the number of requests of size records and the
// body the first would carry (built by body). Method and Path are the
// caller's to set. It returns the records that would be sent too.
func DryDeliver(ctx context.Context, b *etl.Batch, o *Outbox, c *Changes, size int, body func(chunk []Record) []byte) (DryRun, []Record, error) {
	var d DryRun
	recs, err := o.Collect(b, func(int) { d.NoID++ })
	if err != nil {
		return d, nil, err
	}
	changed, unchanged, err := c.Filter(ctx, recs)
	if err != nil {
		return d, nil, err
	}
	d.Records, d.Unchanged = len(changed), unchanged
	d.Requests = (len(changed) + size - 1) / size
	if len(changed) > 0 {
		d.Body = body(changed[:min(size, len(changed))])
	}
	return d, changed, nil
}
