// Package brokerconn is what the message broker connections (NATS in
// connectors/nats, RabbitMQ in connectors/rabbitmq) share: TLS options,
// connecting with nightjar's one backoff policy (etl.Backoff), and URLs
// shown without their credentials.
//
// It imports only etl and the standard library (and cenkalti/backoff).
package brokerconn
