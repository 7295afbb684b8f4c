package etl

// DefaultBatchSize is the number of rows a source puts in a batch unless a
// job says otherwise.
const DefaultBatchSize = 10_000

// NamedStep is a step with the name it reports in rejects and errors
// ("step 3 cast").
type NamedStep struct {
	Name string
	Step Step
}

// NamedTarget is a target with the name it is known by within its job
// ("targets[0] table leads").
type NamedTarget struct {
	Name   string
	Target Target
	// Route is the name routing steps use for this target ("crm",
	// "warehouse"); "" when the target takes every row.
	Route string
}

// Job is a built pipeline, ready for the Runner: fresh components for one
// run (sources, steps and targets hold per-run state).
type Job struct {
	Name      string
	Source    Source
	Steps     []NamedStep
	Targets   []NamedTarget
	BatchSize int
	// MaxRejectRatio fails a run whose rejected/read ratio ends above it;
	// 0 means no limit.
	MaxRejectRatio float64
}
