// Package refdocs renders the reference under docs/reference from the
// registered components' specs: one page per role (sources, targets,
// connections, steps), one section per component with its summary, its
// keys (read by etl.Spec.Doc from the config struct the loader decodes)
// and its example. Its tests keep the checked-in pages current, check
// that every key is documented and decodes, and run every example
// through the production config loader.
//
// It imports every component (connectors/all, transforms) and is imported
// by nothing but its tests.
package refdocs
