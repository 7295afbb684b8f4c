// Package zendesk is the Zendesk Support connector: a "zendesk" connection
// (subdomain; an agent's email with an API token, or an OAuth access
// token) and the "helpdesk/zendesk" target. With object: tickets it makes
// one ticket per key (a handed-off conversation), marked with that key as
// external_id and remembered in the state store, so that no rerun, replay
// or crash makes a second one; later runs add only the new messages as
// comments (by message key) and update status, priority, subject and tags
// when they change. With object: users it upserts users through
// users/create_or_update_many, polls the job and quarantines each user
// Zendesk refused with its message. The HTTP bounds (timeout,
// max_retries, max_wait, max_body, cross_origin) are described in
// docs/http.md; the target in docs/helpdesk.md.
//
// It imports etl and connectors/internal/httpapi only.
package zendesk
