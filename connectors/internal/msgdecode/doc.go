// Package msgdecode turns broker messages (NATS JetStream, RabbitMQ) into
// batches: each payload is decoded with the file formats registered in
// connectors/internal/fileformat (JSON Lines, JSON, CSV), and the message's
// subject or routing key, headers and broker sequence become fields.
//
// It imports only etl and fileformat; the formats themselves register from
// their packages (connectors/all links them).
package msgdecode
