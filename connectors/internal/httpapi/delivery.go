package httpapi

import (
	"log/slog"

	"github.com/nightjar-etl/nightjar/etl"
)

// DeliveryStats counts what an upserting target did in its run.
type DeliveryStats struct {
	// Sent is the records the API accepted.
	Sent int64
	// Unchanged is the records skipped because their fingerprint matched.
	Unchanged int64
	// Rejected is the records the API refused (quarantined).
	Rejected int64
	// Requests is the batch requests that got an answer.
	Requests int64
}

// Delivery is the bookkeeping the upserting API targets share: client,
// change detection, refused rows, counts and logger. Targets embed it.
type Delivery struct {
	Client  *Client
	Changes *Changes
	Log     *slog.Logger
	Counts  DeliveryStats
	name    string
	rejects Rejects
}

// Start builds the client from opts with env's clock and logger, and
// resets the counts; it sends nothing.
func (d *Delivery) Start(opts Options, env etl.TargetEnv) error {
	opts.Clock, opts.Logger = env.Clock, env.Logger
	c, err := New(opts)
	if err != nil {
		return err
	}
	d.Client, d.Changes, d.name = c, NewChanges(env), env.Name
	d.Log = env.Logger
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	d.Counts, d.rejects = DeliveryStats{}, Rejects{}
	return nil
}

// Reject records row of b as refused, with the API's reason (free of
// secrets), and logs it.
func (d *Delivery) Reject(b *etl.Batch, row int, field, value, reason string) {
	d.Counts.Rejected++
	d.rejects.Add(b, row, d.name, field, value, reason)
	d.Log.Warn("record refused", "target", d.name, "origin", b.Origins[row].String(), "reason", reason)
}

// Forget drops the rows refused by a Write that then failed: a replay
// refuses them again. Call it at the start of Write.
func (d *Delivery) Forget() { d.rejects.Take() }

// TakeRejects returns the rows the API refused in the last Write, with its
// message as the reason, and forgets them. The runner calls it after a
// successful Write and records them in the quarantine with the batch's
// checkpoint (the etl.Rejecter contract).
func (d *Delivery) TakeRejects() []etl.Reject { return d.rejects.Take() }

// Stats returns the counts of the run so far.
func (d *Delivery) Stats() DeliveryStats { return d.Counts }

// Durability: a batch is durable once the API answered it.
func (d *Delivery) Durability() etl.Durability { return etl.DurablePerBatch }

// Close does nothing: there is nothing to release.
func (d *Delivery) Close() error { return nil }

// LogDone logs the run's counts; targets call it from Commit.
func (d *Delivery) LogDone(object string) {
	d.Log.Info("upsert done", "target", d.name, "object", object, "sent", d.Counts.Sent,
		"unchanged", d.Counts.Unchanged, "rejected", d.Counts.Rejected, "requests", d.Counts.Requests)
}
