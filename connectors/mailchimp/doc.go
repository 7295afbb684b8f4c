// Package mailchimp is the Mailchimp Marketing connector: a "mailchimp"
// connection (an API key whose suffix names the data centre) and the
// "audience/mailchimp" target, which upserts list members by the MD5 of
// their lower-cased email with status_if_new (never re-subscribing a
// member who unsubscribed unless status is mapped), sends merge fields
// from map, changes tags through the member tags endpoint (diffed against
// what was last sent, remembered in the state store), and in segment mode
// adds a tag to the members in the job's output and, on a full pass only,
// removes it from those that left. At most max_connections (10, the
// account's limit) requests are in flight per connection. Above
// batch_operations_over members a batch of rows goes through Mailchimp's
// batch operations (batches.go): one POST /batches, polled, its results
// downloaded and matched to the rows by operation_id. The target is
// described in docs/marketing.md.
//
// It imports etl and connectors/internal/httpapi only.
package mailchimp
