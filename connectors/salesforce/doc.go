// Package salesforce is the Salesforce connector: a "salesforce"
// connection (instance URL, access token or OAuth2) and the
// "crm/salesforce" target, which upserts records by an external-id field
// through sObject Collections (at most 200 records per request, allOrNone
// false, one result per record), sends only records whose fingerprint
// changed, and quarantines each record Salesforce refuses with its
// message. 403 REQUEST_LIMIT_EXCEEDED is throttling (retried with
// backoff); "TotalRequests Limit exceeded" is the daily allocation and
// stops the run with its position kept.
//
// It imports etl and connectors/internal/httpapi only.
package salesforce
