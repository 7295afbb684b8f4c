// Package httpsource is the "http" source for chatbot-platform and form
// APIs: JSON responses with the records at a path, pagination by cursor,
// next link (in the body or a Link header), offset or page number, and
// incremental reads by an updated_since-style query parameter taken from
// the position. It also registers the "http" connection (base URL, auth,
// rate limit), which the source may be bound to ("http/http").
//
// It imports etl and connectors/internal/httpapi only.
package httpsource
