// Package config owns nightjar's config file (nightjar.yaml): loading,
// validation, and what a loaded config builds. It parses the
// YAML into an AST (goccy/go-yaml), expands ${VAR} and ${VAR:-default} from
// the environment, decodes every section strictly into the registered
// components' config structs, validates schedules (robfig/cron) and
// constructors, and reports every problem at once with file, line and
// column. A loaded Config builds fresh etl.Job values for the runner.
//
// Decoding rules, shared by every section and every component config:
//   - unknown keys are errors, with "did you mean" hints; in a component's
//     config the hint also gives the closest key's doc tag and lists the
//     component's keys, as docs/reference does;
//   - struct fields are named by their yaml tag (or json tag, or the
//     lower-cased field name, as goccy/go-yaml does; etl.ConfigKeys, which
//     the reference docs read too); the tag option
//     ",required" makes a key mandatory (a null value counts as missing);
//     ",inline" and untagged embedded structs are flattened;
//   - a null value keeps the field's default;
//   - time.Duration takes strings such as "90s" or "15m"; types with
//     UnmarshalText take a scalar; goccy's UnmarshalYAML interfaces are
//     honoured; ast.Node fields receive the raw node;
//   - anchors, aliases and "<<" merge keys are resolved.
//
// Job keys: schedule, description, source, steps, targets, batch_size,
// on_reject, the keys the scheduler acts on (timeout, retries,
// retry_backoff, catchup, jitter; package jobs/schedule reads them from
// JobSpec) and tests (step tests, see StepTest). Any other key is an
// error. Top-level keys starting with "x-" are ignored, so that they can
// hold anchors (x-defaults: &csv {...}).
//
// Beyond loading, config owns what a job's declaration means:
//   - schedules: ParseSchedule validates them, JobSpec.Next gives a job's
//     next time (with classic cron's daylight saving rules), and
//     JobSpec.CatchupPolicy and JobSpec.RetryPolicy give its catch-up and
//     retry policies;
//   - Config.Build makes fresh etl.Job values for the runner;
//   - Config.Preview runs a sample of a job's source rows through its
//     steps (`nightjar preview`), and Config.StepTests and
//     Config.RunStepTest run the step tests (`nightjar test`). Both run
//     the steps through etl's streaming pipeline (etl.StepChain), as a run
//     does; they live here because they build the job's components from
//     the config and decode test files with this package's decoder.
//
// Running jobs over time is package jobs/schedule's. config imports etl
// and the component registry only; it does not import connectors or
// transforms (cmd links them in with blank imports).
package config
