// Package etl holds nightjar's shared types and its engine: schemas, batches
// of typed column vectors, positions, the Source/Step/Target contracts, the
// state-store contract, the component registry and the Runner that drives
// source → steps → targets and records checkpoints, and the one Clock
// (clock.go) every component reads the time and waits through, so that
// tests move a fake clock (etltest.Clock) instead of sleeping.
//
// etl imports nothing else of the module: connectors and steps depend on it,
// never the other way round.
package etl
