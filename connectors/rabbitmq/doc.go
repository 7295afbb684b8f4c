// Package rabbitmq is nightjar's RabbitMQ connection ("amqp"), source and
// target, on the official client (github.com/rabbitmq/amqp091-go).
//
// The source consumes a queue with manual acks and acks, after the
// checkpoint that passes them has committed, every message up to the last
// one of that checkpoint with one multiple-ack; its prefetch is sized to
// the batch. It is the queue's only consumer (an exclusive one): a run
// waits until the consumer of a run before that died is gone, so that the
// messages that run held come back first and in order, and are cut into
// the same batches. The target publishes with publisher confirms, mandatory (a
// message no queue takes is returned, and fails the batch), persistent,
// each record with a message-id that is the same when a batch is replayed,
// so that consumers can drop the duplicates a replay sends.
//
// It imports etl and connectors/internal/*, never another connector.
package rabbitmq
