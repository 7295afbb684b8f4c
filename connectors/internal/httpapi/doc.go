// Package httpapi is the HTTP layer shared by the API connectors (HubSpot,
// Salesforce, webhooks, the HTTP source): a client with a token-bucket rate
// limit per connection, pacing by the API's rate-limit headers, Retry-After,
// retries of throttling, 5xx and network errors up to a budget with the
// waits of nightjar's one backoff policy (etl.Backoff), timeouts, bearer /
// basic / OAuth2 auth, JSON path and pagination helpers, field-to-property
// mapping with change detection by fingerprints, and errors that never
// carry a secret. Refused credentials (401, 403, a refused OAuth2 grant)
// and daily limits fail at once, marked etl.Permanent.
//
// It imports etl only; it must not import jobs or any connector.
package httpapi
