// Package gqlapi speaks GraphQL over the shared HTTP client
// (connectors/internal/httpapi): a query and its variables posted as JSON,
// a response whose `errors` are never taken for success, Shopify-style
// cost throttling from `extensions.cost`, and checking a query and its
// variables against a schema with vektah/gqlparser. The graphql and
// shopify sources use it.
//
// It imports etl and connectors/internal/httpapi only.
package gqlapi
