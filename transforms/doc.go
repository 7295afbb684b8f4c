// Package transforms holds nightjar's declarative steps, one file per step
// kind, each registering itself with etl.RegisterStep in init (docs/steps.md
// lists them, generated from the specs by TestStepsDoc). The config loader decodes a step's YAML value into its
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
// Expressions (filter, set, validate, aggregate's where, score, route) are expr-lang programs
// compiled at validate time against an environment whose fields are only
// known when the first batch arrives; expr_env.go holds that environment,
// its helper functions and the per-batch evaluator, which reads cells through
// cells.go's allocation-free boxing. Steps that hold rows across batches
// (sort, dedupe, aggregate) share spill.go's external sorter.
//
// transforms imports etl only: it knows no connector, nor the jobs/config and jobs/schedule packages.
package transforms
