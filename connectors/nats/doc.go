// Package nats is nightjar's NATS JetStream connection ("nats"), source
// and target, on the official client (github.com/nats-io/nats.go, its
// jetstream package).
//
// The source reads a stream through a durable pull consumer with explicit
// acks and acks a message only after the checkpoint that passes it has
// committed (etl.Acker); while the run holds messages it tells the server
// they are in progress, so a batch slower than the consumer's ack wait is
// not redelivered. The target publishes each record with a Nats-Msg-Id
// derived from the batch key and the row, so that a batch replayed within
// the stream's duplicate window is dropped by the server and counted as
// skipped.
//
// It imports etl and connectors/internal/*, never another connector.
package nats
