// Package storetest is the conformance suite of etl.Store: one set of
// cases, and a randomized model-based test against a plain in-memory
// reference, that every state store runs (the SQLite store and the
// PostgreSQL store), so that a behaviour cannot differ between them. River
// does the same for its drivers.
//
// A store's own tests call Run with a function that opens a fresh, empty
// store. It imports etl only (and test libraries).
package storetest
