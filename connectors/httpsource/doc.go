// Package httpsource is the "http" source for chatbot-platform and form
// APIs: JSON responses with the records at a path, pagination by cursor,
// next link (in the body or a Link header), offset or page number, and
// incremental reads by an updated_since-style query parameter taken from
// the position. It also registers the "http" connection (base URL, auth,
// rate limit), which the source may be bound to ("http/http").
//
// Against servers it does not control it keeps credentials at the
// configured origin, fails a page without its records array, a repeated
// cursor, link or page, and runs past pagination.max_pages, decodes pages
// as a stream bounded by max_body, and lets only records that loaded (and
// are not beyond incremental.max_future) move the incremental mark; see
// docs/http.md.
//
// It imports etl and connectors/internal/httpapi only.
package httpsource
