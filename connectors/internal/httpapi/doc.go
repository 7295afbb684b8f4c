// Package httpapi is the HTTP layer shared by the API connectors (HubSpot,
// Salesforce, webhooks, the HTTP source): a client with a token-bucket rate
// limit per connection, pacing by the API's rate-limit headers, Retry-After,
// jittered exponential backoff for throttling, 5xx and network errors up to
// a budget, timeouts, bearer / basic / OAuth2 auth, JSON path and
// pagination helpers, field-to-property mapping with change detection by
// fingerprints, and errors that never carry a secret.
//
// It imports etl only; it must not import jobs or any connector.
package httpapi
