// Package shopify is the "shopify" source: orders, customers or products
// of a Shopify shop through the Admin GraphQL API's bulk operations —
// bulkOperationRunQuery, polling the operation, downloading its JSONL
// result and putting child lines (__parentId: line items, variants) back
// under their parents. A bulk operation already running is waited for
// (bounded) or refused; a result with fewer or more lines than the
// operation's objectCount fails the run with its position kept.
// Incremental runs filter by updated_at from the last mark less an
// overlap window, and skip records already loaded at the same updatedAt.
// See docs/graphql.md.
//
// It imports etl and connectors/internal/{httpapi,gqlapi} only.
package shopify
