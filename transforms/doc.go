// Package transforms holds nightjar's declarative steps, one file per step
// kind, each registering itself with etl.RegisterStep in init: rename, cast
// and filter so far. The config loader decodes a step's YAML value into its
// Spec.Config and calls its New; New does no work beyond validating and
// compiling, and reports a bad key as *etl.FieldError.
//
// Steps work on etl.Batch column vectors in place: rename swaps the schema,
// cast builds one new vector per cast field and batch, filter compacts the
// batch with one Batch.Keep. A step that changes the schema builds the new
// one once per input schema (schemaCache), never per batch. Rows a step
// refuses go to Batch.Reject with the step's name, the field, the value and
// the reason, so the quarantine can say what was wrong and where.
//
// Expressions (filter now, set and validate later) are expr-lang programs
// compiled at validate time against an environment whose fields are only
// known when the first batch arrives; expr_env.go holds that environment,
// its helper functions (lower, upper, trim) and the per-batch evaluator.
//
// transforms imports etl only: it knows no connector, nor the jobs package.
package transforms
