// Package jobs loads nightjar's config file (nightjar.yaml): it parses the
// YAML into an AST (goccy/go-yaml), expands ${VAR} and ${VAR:-default} from
// the environment, decodes every section strictly into the registered
// components' config structs, validates schedules (robfig/cron) and
// constructors, and reports every problem at once with file, line and
// column. A loaded Config builds fresh etl.Job values for the runner.
//
// Decoding rules, shared by every section and every component config:
//   - unknown keys are errors, with "did you mean" hints;
//   - struct fields are named by their yaml tag (or json tag, or the
//     lower-cased field name, as goccy/go-yaml does); the tag option
//     ",required" makes a key mandatory (a null value counts as missing);
//     ",inline" and untagged embedded structs are flattened;
//   - a null value keeps the field's default;
//   - time.Duration takes strings such as "90s" or "15m"; types with
//     UnmarshalText take a scalar; goccy's UnmarshalYAML interfaces are
//     honoured; ast.Node fields receive the raw node;
//   - anchors, aliases and "<<" merge keys are resolved.
//
// Job keys: schedule, description, source, steps, targets, batch_size,
// on_reject, and the keys reserved for the scheduler and test runner
// (timeout, retries, retry_backoff, catchup, jitter, tests), which are
// decoded and type-checked now so that a config valid today stays valid.
// Any other key is an error. Top-level keys starting with "x-" are
// ignored, so that they can hold anchors (x-defaults: &csv {...}).
//
// jobs imports etl and the component registry only; it does not import
// connectors or transforms (cmd links them in with blank imports).
package jobs
