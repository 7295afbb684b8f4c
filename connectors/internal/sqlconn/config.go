package sqlconn

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// Table target modes.
const (
	ModeAppend  = "append"
	ModeMerge   = "merge"
	ModeReplace = "replace"
)

// Schema policies of a table target.
const (
	SchemaEvolve = "evolve"
	SchemaStrict = "strict"
)

// Names of the tables and indexes a table target makes beside its table.
const (
	StagingSuffix  = "__nightjar_staging"
	KeyIndexSuffix = "__nightjar_key"
)

// TargetConfig is the config every "table" target shares, whatever the
// database; a connector embeds it inline and adds its own keys.
type TargetConfig struct {
	// Table is the table to write.
	Table string `yaml:"table" doc:"the table to write; created from the batch schema when missing"`
	// Mode is append (the default), merge or replace.
	Mode string `yaml:"mode" doc:"append (the default), merge or replace"`
	// Key lists the fields identifying a row; required for merge.
	Key []string `yaml:"key" doc:"lists the fields identifying a row; required for merge"`
	// Schema is evolve (the default: new fields add columns) or strict
	// (new fields are an error).
	Schema string `yaml:"schema" doc:"evolve (the default: new fields add columns) or strict (new fields are an error)"`
	// CommitRows is how many rows one transaction loads: batches join the
	// open transaction until it holds this many rows (or has been open for
	// CommitInterval), then it commits and the run checkpoints them. A
	// commit per batch spends most of a bulk load waiting for the
	// database's fsync.
	CommitRows int `yaml:"commit_rows" doc:"how many rows one transaction loads: batches join it until it holds this many (or has been open 2s), then it commits and the run checkpoints them; default 100000, and 1000000 for DuckDB and for a PostgreSQL or MariaDB table whose failed transactions the run reads again from its source (see the README)"`
	// OnUnrepresentable is what a value the table's column cannot hold
	// exactly (NaN or -0 in a SQLite REAL, -0 in a MariaDB DOUBLE, a year
	// outside 1-9999) does: fail (the default: the run fails naming row,
	// field, value and column), reject (the row is quarantined with that
	// reason, the others load) or null (the value is stored as NULL, and
	// the log counts them).
	OnUnrepresentable string `yaml:"on_unrepresentable" doc:"what a value the table's column cannot hold exactly (NaN or -0 in a SQLite REAL, -0 in a MariaDB DOUBLE, a year outside 1-9999) does: fail (the default: the run fails naming row, field, value and column), reject (the row is quarantined with that reason, the others load) or null (the value is stored as NULL, and the log counts them)"`
}

// What a value a column cannot hold does (TargetConfig.OnUnrepresentable).
const (
	UnrepresentableFail   = "fail"
	UnrepresentableReject = "reject"
	UnrepresentableNull   = "null"
)

// Defaults of a table target's transactions: DefaultCommitRows rows, or
// whatever was loaded in CommitInterval.
const (
	DefaultCommitRows = 100_000
	CommitInterval    = 2 * time.Second
)

// RewindCommitRows is the default commit_rows of a table target whose
// failed transactions the runner reads again from the source
// (etl.TargetEnv.Rewinds): it keeps none of their batches, so a larger
// transaction costs no memory, only a longer reading again after a
// failure, which CommitInterval bounds. One transaction for 1M leads
// instead of ten took PostgreSQL's load from 1.19–1.32× psql's wall time
// to 0.85× and 1.01× in two runs, 0.90× beside the ten in one (see the
// README's Benchmarks).
const RewindCommitRows = 1_000_000

// DefaultTargetConfig is a TargetConfig with its defaults.
func DefaultTargetConfig() TargetConfig {
	return TargetConfig{Mode: ModeAppend, Schema: SchemaEvolve}
}

// FieldErrorf is a *etl.FieldError on one config key.
func FieldErrorf(key string, format string, args ...any) error {
	return &etl.FieldError{Path: []string{key}, Err: fmt.Errorf(format, args...)}
}

// Validate checks the config against dialect d; reserved reports table
// names the database keeps for itself. Errors are *etl.FieldError.
func (c *TargetConfig) Validate(d Dialect, reserved func(key string) bool) error {
	if strings.TrimSpace(c.Table) == "" {
		return FieldErrorf("table", "required: the table to write")
	}
	switch c.OnUnrepresentable {
	case "", UnrepresentableFail, UnrepresentableReject, UnrepresentableNull:
	default:
		return FieldErrorf("on_unrepresentable", "%q: want fail, reject or null", c.OnUnrepresentable)
	}
	if _, err := d.QuoteIdent(c.Table); err != nil {
		return &etl.FieldError{Path: []string{"table"}, Err: err}
	}
	// The staging table's name must fit too.
	if _, err := d.QuoteIdent(c.Table + StagingSuffix); err != nil && c.Mode == ModeReplace {
		return &etl.FieldError{Path: []string{"table"}, Err: fmt.Errorf("too long for mode: replace (its staging table adds %q): %w", StagingSuffix, err)}
	}
	if c.CommitRows < 0 {
		return FieldErrorf("commit_rows", "must be positive (rows per transaction), got %d", c.CommitRows)
	}
	key := d.IdentKey(c.Table)
	if key == d.IdentKey(MarkerTable) || (reserved != nil && reserved(key)) {
		return FieldErrorf("table", "%q is reserved", c.Table)
	}
	switch c.Mode {
	case ModeAppend, ModeReplace:
		if len(c.Key) > 0 {
			return FieldErrorf("key", "key is only used with mode: merge (mode is %s)", c.Mode)
		}
	case ModeMerge:
		if len(c.Key) == 0 {
			return FieldErrorf("key", "required with mode: merge: the fields identifying a row, e.g. [email]")
		}
		if err := checkNames(d, c.Key); err != nil {
			return &etl.FieldError{Path: []string{"key"}, Err: err}
		}
	default:
		return FieldErrorf("mode", "unknown mode %q (want append, merge or replace)", c.Mode)
	}
	switch c.Schema {
	case SchemaEvolve, SchemaStrict:
	default:
		return FieldErrorf("schema", "unknown schema policy %q (want evolve or strict)", c.Schema)
	}
	return nil
}

// checkNames checks that every name is a valid identifier, listed once.
func checkNames(d Dialect, names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		if _, err := d.QuoteIdent(n); err != nil {
			return err
		}
		if seen[d.IdentKey(n)] {
			return fmt.Errorf("%q is listed twice", n)
		}
		seen[d.IdentKey(n)] = true
	}
	return nil
}

// Names is a list of names written in YAML as a list or, for one name, a
// scalar: `key: id` or `key: [region, id]`.
type Names []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (n *Names) UnmarshalYAML(unmarshal func(any) error) error {
	var list []string
	if err := unmarshal(&list); err == nil {
		*n = list
		return nil
	}
	var one string
	if err := unmarshal(&one); err != nil {
		return fmt.Errorf("want a name or a list of names")
	}
	*n = Names{one}
	return nil
}

// ConfigShape implements etl.Shaper, for the reference docs.
func (*Names) ConfigShape() string { return "a name or a list of names" }

// SourceConfig is the config every "sql" source shares.
type SourceConfig struct {
	// Table is the table to read; or Query, a SELECT whose rows are read.
	Table string `yaml:"table" doc:"the table to read (or query)"`
	Query string `yaml:"query" doc:"a file holding a SELECT whose rows are read, relative to the config (or table)"`
	// Cursor is the column rows are read in order of, and resumed after
	// (updated_at); rows with a null cursor are not read, and each run
	// counts and logs them.
	Cursor string `yaml:"cursor" doc:"the column rows are read in order of, and resumed after (updated_at); rows with a null cursor are not read, and each run counts and logs them"`
	// Key is the tie-breaker among rows sharing a cursor value (id); it
	// must identify a row. Without Cursor, Key alone orders and resumes.
	// A run fails (ErrKeyNotUnique) when a row has a null key, or when
	// two rows read one after the other share their cursor and key
	// values: paging would skip rows.
	Key Names `yaml:"key" doc:"the tie-breaker among rows sharing a cursor value (id); it must identify a row"`
	// Lookback re-reads rows whose cursor is this much older than the
	// last one read, for rows committed late; a timestamp or date cursor
	// only. A merge target absorbs the rows read again.
	Lookback time.Duration `yaml:"lookback" doc:"re-reads rows whose cursor is this much older than the last one read, for rows committed late; a timestamp or date cursor only"`
	// ChunkSize is the number of rows one query reads; default the job's
	// batch size.
	ChunkSize int `yaml:"chunk_size" doc:"the number of rows one query reads; default the job's batch size"`
	// PartitionRows is the size, in rows, of the key ranges the source
	// splits its rows into (Source.Ranges) for `nightjar worker` to run as
	// partitions; a table whose range column (the cursor, or the key
	// without one) is a number, date or timestamp only. 0 (the default)
	// reads them in one run. The worker does not split by it yet
	// (docs/scale-out.md): a tick reads the rows in one run.
	PartitionRows int `yaml:"partition_rows" doc:"rows per partition when nightjar worker splits the table by ranges of the cursor (or the key without one), each range run by any worker from its own checkpoint: a table (not a query, not SQLite, no lookback) whose cursor is a number, date or timestamp, indexed for a cheap split; the job's position moves past the ranges when all of them loaded, and a failed range is run again alone by the next tick (docs/scale-out.md); 0 (the default), nightjar run and the daemon read in one run"`
}

// Validate checks the config against dialect d; errors are
// *etl.FieldError.
func (c *SourceConfig) Validate(d Dialect) error {
	switch {
	case strings.TrimSpace(c.Table) == "" && strings.TrimSpace(c.Query) == "":
		return FieldErrorf("table", "required: the table to read (or query: a SELECT)")
	case c.Table != "" && c.Query != "":
		return FieldErrorf("query", "give table or query, not both")
	}
	if c.Table != "" {
		if _, err := d.QuoteIdent(c.Table); err != nil {
			return &etl.FieldError{Path: []string{"table"}, Err: err}
		}
	}
	if c.Query != "" && strings.HasSuffix(strings.TrimSpace(c.Query), ";") {
		return FieldErrorf("query", "remove the trailing semicolon: the query is read as a subquery")
	}
	if len(c.Key) == 0 {
		return FieldErrorf("key", "required: the column(s) identifying a row, which order the reads and break cursor ties (e.g. key: id)")
	}
	if err := checkNames(d, c.Key); err != nil {
		return &etl.FieldError{Path: []string{"key"}, Err: err}
	}
	if c.Cursor != "" {
		if _, err := d.QuoteIdent(c.Cursor); err != nil {
			return &etl.FieldError{Path: []string{"cursor"}, Err: err}
		}
		if slices.ContainsFunc(c.Key, func(k string) bool { return d.IdentKey(k) == d.IdentKey(c.Cursor) }) {
			return FieldErrorf("key", "%q is the cursor; the key breaks ties among rows sharing a cursor value, e.g. id", c.Cursor)
		}
	}
	if c.Lookback < 0 {
		return FieldErrorf("lookback", "must not be negative")
	}
	if c.Lookback > 0 && c.Cursor == "" {
		return FieldErrorf("lookback", "needs a cursor (a timestamp or date column)")
	}
	if c.ChunkSize < 0 {
		return FieldErrorf("chunk_size", "must not be negative")
	}
	if c.PartitionRows < 0 {
		return FieldErrorf("partition_rows", "must not be negative (0 reads the rows in one run)")
	}
	return nil
}

// Container is where a table lives beside the connection's default: a
// PostgreSQL schema, a MySQL database; Key is its config key.
type Container struct {
	Key  string // "schema_name", "database"
	Name string // "" for the connection's default
}

// ValidateTarget validates c as Validate does, checks that the merge
// key's index name and the container's name are valid, and returns the
// target's name for errors: "postgres pg table \"crm\".\"leads\"".
func (c *TargetConfig) ValidateTarget(d Dialect, reserved func(key string) bool, in Container, connName string) (string, error) {
	if err := c.Validate(d, reserved); err != nil {
		return "", err
	}
	if c.Mode == ModeMerge {
		if _, err := d.QuoteIdent(c.Table + KeyIndexSuffix); err != nil {
			return "", FieldErrorf("table", "too long for mode: merge (its key index adds %q): %w", KeyIndexSuffix, err)
		}
	}
	if err := in.validate(d); err != nil {
		return "", err
	}
	if in.Name != "" {
		return fmt.Sprintf("%s %s table %q.%q", d.Name(), connName, in.Name, c.Table), nil
	}
	return fmt.Sprintf("%s %s table %q", d.Name(), connName, c.Table), nil
}

func (in Container) validate(d Dialect) error {
	if in.Name == "" {
		return nil
	}
	if _, err := d.QuoteIdent(in.Name); err != nil {
		return &etl.FieldError{Path: []string{in.Key}, Err: err}
	}
	return nil
}

// ValidateSource validates c as Validate does, checks the container's
// name, and returns the source's name for errors: "mysql db table
// \"customers\"".
func (c *SourceConfig) ValidateSource(d Dialect, in Container, connName string) (string, error) {
	if err := c.Validate(d); err != nil {
		return "", err
	}
	if err := in.validate(d); err != nil {
		return "", err
	}
	what := "query"
	if c.Table != "" {
		what = fmt.Sprintf("table %q", c.Table)
	}
	return fmt.Sprintf("%s %s %s", d.Name(), connName, what), nil
}
