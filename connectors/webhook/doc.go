// Package webhook is the "webhook" target: each batch POSTed as JSON to a
// URL, with headers, auth, the shared rate limit and retries, and an
// Idempotency-Key per batch that stays the same when a batch is replayed
// after a crash, so the receiver can drop the duplicate.
//
// It imports etl and connectors/internal/httpapi only.
package webhook
