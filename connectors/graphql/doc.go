// Package graphql is the "graphql" source: records from a GraphQL API's
// Relay connection. The query lives in its own .graphql file with typed
// variables (never a query built from strings), checked at load against
// a schema file when one is given; pages follow pageInfo { endCursor
// hasNextPage } through a cursor variable, with a guard against a cursor
// the server repeats and max_pages; the incremental value goes in a
// variable and moves only past pages fully loaded. A response with
// `errors` fails its page (partial: warn loads its data and logs them),
// whatever its HTTP status, and Shopify-style cost extensions pace the
// requests. See docs/graphql.md.
//
// It imports etl and connectors/internal/{httpapi,gqlapi} only.
package graphql
