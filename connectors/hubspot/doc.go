// Package hubspot is the HubSpot CRM v3 connector: a "hubspot" connection
// (private-app token or OAuth2 refresh token, rate limit per account tier)
// and the "crm/hubspot" target, which batch-upserts records (contacts by
// email or a custom unique property, companies by domain) at most 100 per
// request, sends only records whose fingerprint changed since they were
// last delivered, and quarantines the inputs HubSpot refuses with
// HubSpot's own message while the rest of the batch is delivered. The
// connection's base_url defaults to https://api.hubapi.com; the HTTP
// bounds (timeout, max_retries, max_wait, max_body, cross_origin) are
// described in docs/http.md.
//
// It imports etl and connectors/internal/httpapi only.
package hubspot
