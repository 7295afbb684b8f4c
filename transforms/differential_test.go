package transforms

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
)

// This file is the differential test of the steps: random input (random
// schemas, values and nulls, cut into random batches) goes through a
// random chain of steps twice, once through the real columnar steps the
// way etl's runner drives them, once through a plain reference written
// here (differential_steps_test.go) that works on whole tables of rows as
// maps. The rows that come out, their fields and routes, and the rows
// rejected on the way must be the same. rapid shrinks a failing case to a
// short chain and a small input, printed as the job's steps in YAML.
//
// The references share leaf rules with the steps (validEmail, set's
// staticType, the expression language's options and messages): what is
// checked is the machinery around them, which cells a step reads and
// writes, in which order, across which batches, nulls, rejects, spills
// and flushes.

// diffChecks is how many chains a default run of TestDifferentialChains
// tries: 500, about 12 s with -race on 2 shared cores. NIGHTJAR_DIFF_CHECKS
// raises it for a longer sweep (10,000 take about 2 minutes without
// -race); -rapid.checks, when given, wins.
const diffChecks = 500

func TestDifferentialChains(t *testing.T) {
	checks := diffChecks
	if v := os.Getenv("NIGHTJAR_DIFF_CHECKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("NIGHTJAR_DIFF_CHECKS=%q: want a positive number", v)
		}
		checks = n
	}
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rapid.checks" })
	if f := flag.Lookup("rapid.checks"); f != nil && !given {
		old := f.Value.String()
		if err := f.Value.Set(strconv.Itoa(checks)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Value.Set(old) })
	}
	rapid.Check(t, checkChain)
}

// TestDifferentialCoversEveryKind keeps the chains drawing every step
// kind there is.
func TestDifferentialCoversEveryKind(t *testing.T) {
	for _, kind := range etl.StepKinds() {
		if !slices.ContainsFunc(dStepKinds, func(k dKindSpec) bool { return k.name == kind }) {
			t.Errorf("step kind %s is registered but the differential test never draws it", kind)
		}
	}
}

// checkChain draws one job (input, batches, steps), runs it through the
// steps and the reference, and compares.
func checkChain(rt *rapid.T) {
	dir := diffDir(rt)
	defer os.RemoveAll(dir)
	g := &dGen{t: rt, dir: dir}
	job := g.job()

	// The reference runs while the chain is drawn: each step is drawn for
	// the table the steps before it produce. After a step the reference
	// expects to fail the run, the steps drawn do not matter.
	tab := job.input
	var wantRejects []dReject
	wantErr := ""
	job.steps = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) *dStep {
		if wantErr != "" {
			rapid.Bool().Draw(t, "a step that does not run") // a generator must draw
			return nil
		}
		outer := g.t
		g.t = t
		defer func() { g.t = outer }()
		var kinds []string
		for _, kind := range dStepKinds {
			for w := max(kind.weight, 1); kind.dOK(&tab) && w > 0; w-- {
				kinds = append(kinds, kind.name)
			}
		}
		kind := dKind(rapid.SampledFrom(kinds).Draw(t, "kind"))
		step := kind.gen(g, &tab)
		step.kind = kind.name
		step.name = fmt.Sprintf("steps[%d] %s", g.steps, kind.name)
		ref := &dRef{step: step, index: g.steps}
		g.steps++
		out, err := step.ref(ref, tab)
		wantRejects = append(wantRejects, ref.rejects...)
		if err != nil {
			wantErr = err.Error()
		} else {
			tab = out
		}
		return step
	}), 1, 8).Draw(rt, "steps")
	job.steps = slices.DeleteFunc(job.steps, func(s *dStep) bool { return s == nil })

	batches, err := job.run(context.Background())
	switch {
	case wantErr != "" && err == nil:
		rt.Fatalf("%s\nwant the error %q, got none", job, wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		rt.Fatalf("%s\nwant the error %q, got %v", job, wantErr, err)
	case wantErr != "":
		return
	case err != nil:
		rt.Fatalf("%s\nrun: %v", job, err)
	}
	gotRows, gotRejects, err := engineOutput(batches)
	if err != nil {
		rt.Fatalf("%s\n%v", job, err)
	}
	if diff := gocmp.Diff(tab.strings(), gotRows, cmpopts.EquateEmpty()); diff != "" {
		rt.Fatalf("%s\nrows (-reference +steps):\n%s", job, diff)
	}
	sortRejects(wantRejects)
	sortRejects(gotRejects)
	if diff := gocmp.Diff(wantRejects, gotRejects, cmpopts.EquateEmpty()); diff != "" {
		rt.Fatalf("%s\nrejects (-reference +steps):\n%s", job, diff)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "spill")); len(left) > 0 {
		rt.Fatalf("%s\nspill files left behind: %v", job, left)
	}
}

// diffDir makes a job's folder, with the spill folder its holding steps
// use; the caller removes it.
func diffDir(rt *rapid.T) string {
	dir, err := os.MkdirTemp("", "nightjar-diff-")
	if err != nil {
		rt.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "spill"), 0o755); err != nil {
		os.RemoveAll(dir)
		rt.Fatal(err)
	}
	return dir
}

// dJob is one drawn job: the input, how it is cut into batches, the steps.
type dJob struct {
	dir       string
	batchSize int   // the job's batch_size: holding steps flush that many rows
	sizes     []int // the rows of each input batch, in order
	input     dTable
	steps     []*dStep
}

// String prints the job as its steps would be configured, for a failure.
func (j *dJob) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "job batch_size: %d, input batches of %v rows\ninput:\n", j.batchSize, j.sizes)
	for _, f := range j.input.fields {
		fmt.Fprintf(&b, "  field %s %s\n", f.name, f.typ)
	}
	for _, r := range j.input.strings() {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	b.WriteString("steps:\n")
	for _, s := range j.steps {
		fmt.Fprintf(&b, "  - %s\n", s.yaml)
		for name, content := range s.files {
			fmt.Fprintf(&b, "    (%s: %q)\n", name, content)
		}
	}
	return b.String()
}

// run builds the steps through the config's decoding path and runs the
// input batches through them (runSteps).
func (j *dJob) run(ctx context.Context) ([]*etl.Batch, error) {
	steps := make([]etl.NamedStep, len(j.steps))
	for k, s := range j.steps {
		step, err := decodeStep(s.yaml, etl.BuildEnv{BaseDir: j.dir, StepName: s.name, BatchSize: j.batchSize})
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", s.name, err)
		}
		steps[k] = etl.NamedStep{Name: s.name, Step: step}
	}
	return runSteps(ctx, steps, j.batches())
}

// runSteps feeds batches through steps as a run does (etl.StepChain)
// and returns the batches that would reach the targets, in order.
func runSteps(ctx context.Context, steps []etl.NamedStep, batches []*etl.Batch) ([]*etl.Batch, error) {
	return etl.StepChain{Steps: steps}.Run(ctx, batches)
}

// batches cuts the input into batches of j.sizes rows.
func (j *dJob) batches() []*etl.Batch {
	fields := make([]etl.Field, len(j.input.fields))
	for i, f := range j.input.fields {
		fields[i] = etl.Field{Name: f.name, Type: f.typ}
	}
	schema := etl.MustSchema(fields...)
	var out []*etl.Batch
	rows := j.input.rows
	for _, n := range j.sizes {
		b := etl.NewBatch(schema, n)
		for _, r := range rows[:n] {
			for c, f := range j.input.fields {
				if err := b.Cols[c].Append(r.vals[f.name]); err != nil {
					panic(err)
				}
			}
			b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: r.line})
		}
		rows = rows[n:]
		out = append(out, b)
	}
	return out
}

// engineOutput turns the batches that reach the targets into the
// reference's form, checking each batch's invariants on the way.
func engineOutput(batches []*etl.Batch) (rows []string, rejects []dReject, err error) {
	for k, b := range batches {
		if err := b.Check(); err != nil {
			return nil, nil, fmt.Errorf("batch %d: %w", k, err)
		}
		for route, mask := range b.Routes {
			if len(mask) != b.Len() {
				return nil, nil, fmt.Errorf("batch %d: route %s has %d entries for %d rows", k, route, len(mask), b.Len())
			}
		}
		fields := make([]dField, b.Schema.Len())
		for c := range fields {
			fields[c] = dField{name: b.Schema.Field(c).Name, typ: b.Schema.Field(c).Type}
		}
		for i := 0; i < b.Len(); i++ {
			r := dRow{line: b.Origins[i].Line, vals: make(map[string]any, len(fields))}
			for c, f := range fields {
				r.vals[f.name] = b.Cols[c].Value(i)
			}
			if len(b.Routes) > 0 {
				r.routes = make(map[string]bool, len(b.Routes))
				for route, mask := range b.Routes {
					r.routes[route] = mask[i]
				}
			}
			rows = append(rows, r.String(fields))
		}
		for _, rj := range b.Rejects {
			rejects = append(rejects, dReject{Line: rj.Origin.Line, Step: rj.Step, Field: rj.Field, Value: rj.Value, Reason: rj.Reason, Row: string(rj.Row)})
		}
	}
	return rows, rejects, nil
}

// dField is a field of the reference's table.
type dField struct {
	name string
	typ  etl.Type
	// weak: a set field whose type comes from its values. A batch that
	// reaches set before any value fixed the type (an empty one: a
	// holding step hands on its input batches empty) carries the field
	// as string, so steps that check types when they first see a batch
	// (aggregate, explode, flatten) are not drawn over it.
	weak bool
	// late: a field flatten found in the values. A batch that reaches
	// flatten before any row did lacks it, so no later step names it.
	late bool
}

// dRow is a row of the reference's table: its values by field name (nil
// for null; string, int64, float64, bool, time.Time or a nested value, as
// Column.Value returns them), where it came from, the batch it travels in
// and the routes it was given.
type dRow struct {
	line int64
	// batch numbers the batch that carries the row, in the order batches
	// reach a step: the input batches 0, 1, ..., then the batches a
	// holding step at index k flushes, 1000*(k+1), 1000*(k+1)+1, ... Only
	// what fixes a type or a layout from the first batch needs it.
	batch  int
	vals   map[string]any
	routes map[string]bool
}

func (r dRow) clone() dRow {
	c := r
	c.vals = make(map[string]any, len(r.vals))
	for k, v := range r.vals {
		c.vals[k] = v
	}
	if r.routes != nil {
		c.routes = make(map[string]bool, len(r.routes))
		for k, v := range r.routes {
			c.routes[k] = v
		}
	}
	return c
}

// String is the row as the comparison sees it: its line, each field with
// its type and value in schema order, and its routes.
func (r dRow) String(fields []dField) string {
	var b strings.Builder
	fmt.Fprintf(&b, "line %d:", r.line)
	for _, f := range fields {
		fmt.Fprintf(&b, " %s:%s=%s", f.name, f.typ, dText(f.typ, r.vals[f.name]))
	}
	if len(r.routes) > 0 {
		names := make([]string, 0, len(r.routes))
		for name := range r.routes {
			names = append(names, name)
		}
		slices.Sort(names)
		b.WriteString(" routes:")
		for _, name := range names {
			fmt.Fprintf(&b, " %s=%t", name, r.routes[name])
		}
	}
	return b.String()
}

// dText prints a value of a field of type typ unambiguously: quoted
// strings, JSON for the values of a json field (which a spill to disk
// keeps as JSON text: a number comes back as a json.Number).
func dText(typ etl.Type, v any) string {
	if typ == etl.TypeJSON && v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprintf("%#v", v)
		}
		return "json" + string(b)
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64) + "f"
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%T %#v", v, v)
}

// dTable is the reference's table: fields in order and rows in order.
type dTable struct {
	fields []dField
	rows   []dRow
}

func (t *dTable) index(name string) int {
	return slices.IndexFunc(t.fields, func(f dField) bool { return f.name == name })
}

// typ is the type of the named field; 0 when absent.
func (t *dTable) typ(name string) etl.Type {
	if i := t.index(name); i >= 0 {
		return t.fields[i].typ
	}
	return 0
}

// names lists the fields of the given types (of any type without types)
// that a step may name (see dField.late).
func (t *dTable) names(types ...etl.Type) []string {
	var out []string
	for _, f := range t.fields {
		if !f.late && (len(types) == 0 || slices.Contains(types, f.typ)) {
			out = append(out, f.name)
		}
	}
	return out
}

// put sets a field's type, adding the field at the end if it is new.
func (t *dTable) put(name string, typ etl.Type) {
	if i := t.index(name); i >= 0 {
		t.fields[i].typ = typ
		return
	}
	t.fields = append(t.fields, dField{name: name, typ: typ})
}

// clone copies the table deeply enough for a step to change it.
func (t dTable) clone() dTable {
	c := dTable{fields: slices.Clone(t.fields), rows: make([]dRow, len(t.rows))}
	for i, r := range t.rows {
		c.rows[i] = r.clone()
	}
	return c
}

func (t *dTable) strings() []string {
	out := make([]string, len(t.rows))
	for i, r := range t.rows {
		out[i] = r.String(t.fields)
	}
	return out
}

// batches groups the rows by the batch that carries them, in order.
func (t *dTable) batches() [][]int {
	var out [][]int
	for i, r := range t.rows {
		if i == 0 || r.batch != t.rows[i-1].batch {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], i)
	}
	return out
}

// keepRows keeps the rows whose index is not in drop.
func (t *dTable) keepRows(drop map[int]bool) {
	if len(drop) == 0 {
		return
	}
	kept := t.rows[:0]
	for i, r := range t.rows {
		if !drop[i] {
			kept = append(kept, r)
		}
	}
	t.rows = kept
}

// rowJSON is Batch.RowJSON of a reference row.
func (t *dTable) rowJSON(r dRow) string {
	buf := []byte{'{'}
	for j, f := range t.fields {
		if j > 0 {
			buf = append(buf, ',')
		}
		name, _ := json.Marshal(f.name)
		buf = append(append(buf, name...), ':')
		v, err := json.Marshal(r.vals[f.name])
		if err != nil {
			v = []byte("null")
		}
		buf = append(buf, v...)
	}
	return string(append(buf, '}'))
}

// dReject is a rejected row as the comparison sees it.
type dReject struct {
	Line                            int64
	Step, Field, Value, Reason, Row string
}

func sortRejects(rs []dReject) {
	slices.SortFunc(rs, func(a, b dReject) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), strings.Compare(a.Step, b.Step), strings.Compare(a.Field, b.Field),
			strings.Compare(a.Reason, b.Reason), strings.Compare(a.Value, b.Value), strings.Compare(a.Row, b.Row))
	})
}

// dStep is one drawn step: its YAML as a job's steps list holds it, the
// files it reads, and its reference.
type dStep struct {
	kind, name string
	yaml       string
	files      map[string]string
	ref        func(r *dRef, in dTable) (dTable, error)
}

// dRef is what a reference step works with: its step, for rejects and
// flushed batch numbers, and the rows it rejected.
type dRef struct {
	step    *dStep
	index   int
	rejects []dReject
}

// reject records row r of t as refused.
func (r *dRef) reject(t *dTable, row dRow, field, value, reason string) {
	r.rejects = append(r.rejects, dReject{Line: row.line, Step: r.step.name, Field: field, Value: value, Reason: reason, Row: t.rowJSON(row)})
}

// flushed numbers the rows a holding step hands on as the batches of
// size rows it flushes them in.
func (r *dRef) flushed(rows []dRow, size int) {
	for i := range rows {
		rows[i].batch = 1000*(r.index+1) + i/size
	}
}

// dGen draws jobs and steps.
type dGen struct {
	t            *rapid.T
	dir          string
	fresh        int // field names drawn
	steps        int // steps drawn
	jobBatchSize int
}

// Values are drawn from small pools so that keys repeat, casts both
// succeed and fail, and text has something for every text step to do.
var (
	dNames   = []string{"a", "b", "c", "d", "e"}
	dTypes   = []etl.Type{etl.TypeString, etl.TypeString, etl.TypeInt, etl.TypeFloat, etl.TypeBool, etl.TypeTimestamp}
	dStrings = []string{"", " ", "a", "A", " a ", "b", "Bc", "ä", "Ä", "ß", "x1", "X12 y", "1", " 2 ", "-3", "4.5", "1e2",
		"nan", "yes", "f", "2024-01-02", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05", "x@y.io", "+49 30 1234567"}
	dInts   = []int64{-3, 0, 1, 2, 3, 4, 5, 7, 300}
	dFloats = []float64{-1.5, 0, 0.25, 1, 2.5, 300.75}
	dTimes  = []time.Time{
		time.Date(2023, 12, 31, 23, 59, 59, 500_000_000, time.UTC),
		time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
	}
)

// job draws the input and how it is cut into batches.
func (g *dGen) job() *dJob {
	t := g.t
	j := &dJob{dir: g.dir}
	names := rapid.SliceOfNDistinct(rapid.SampledFrom(dNames), 1, 4, rapid.ID[string]).Draw(t, "fields")
	for _, name := range names {
		j.input.fields = append(j.input.fields, dField{name: name, typ: rapid.SampledFrom(dTypes).Draw(t, "type of "+name)})
	}
	// The input comes in batches of up to 12 rows, some of them empty (a
	// file with a header only), or cut evenly by the job's batch size.
	row := rapid.Custom(func(t *rapid.T) dRow {
		r := dRow{vals: map[string]any{}}
		for _, f := range j.input.fields {
			r.vals[f.name] = dValue(t, f.typ, f.name)
		}
		return r
	})
	batches := rapid.SliceOfN(rapid.SliceOfN(row, 0, 12), 1, 8).Draw(t, "input batches")
	j.batchSize = rapid.IntRange(1, 12).Draw(t, "batch_size")
	g.jobBatchSize = j.batchSize
	for _, b := range batches {
		j.input.rows = append(j.input.rows, b...)
		j.sizes = append(j.sizes, len(b))
	}
	if rapid.Bool().Draw(t, "even batches") {
		j.sizes = nil
		for left := len(j.input.rows); left > 0 || len(j.sizes) == 0; left -= j.batchSize {
			j.sizes = append(j.sizes, min(left, j.batchSize))
		}
	}
	for i := range j.input.rows {
		j.input.rows[i].line = int64(i + 2)
	}
	i := 0
	for k, n := range j.sizes {
		for ; n > 0; n-- {
			j.input.rows[i].batch = k
			i++
		}
	}
	return j
}

// dValue draws a value of type typ, null one time in five.
func dValue(t *rapid.T, typ etl.Type, label string) any {
	if rapid.IntRange(0, 4).Draw(t, label+" null") == 0 {
		return nil
	}
	switch typ {
	case etl.TypeString:
		return rapid.SampledFrom(dStrings).Draw(t, label)
	case etl.TypeInt:
		return rapid.SampledFrom(dInts).Draw(t, label)
	case etl.TypeFloat:
		return rapid.SampledFrom(dFloats).Draw(t, label)
	case etl.TypeBool:
		return rapid.Bool().Draw(t, label)
	case etl.TypeTimestamp:
		return rapid.SampledFrom(dTimes).Draw(t, label)
	}
	panic(fmt.Sprintf("no values of type %s", typ))
}

// pick draws one of names.
func (g *dGen) pick(label string, names []string) string {
	return rapid.SampledFrom(names).Draw(g.t, label)
}

// some draws between lo and hi distinct names of names, in a random
// order.
func (g *dGen) some(label string, names []string, lo, hi int) []string {
	return rapid.SliceOfNDistinct(rapid.SampledFrom(names), lo, min(hi, len(names)), rapid.ID[string]).Draw(g.t, label)
}

// newName returns a field name that no field has had.
func (g *dGen) newName() string {
	g.fresh++
	return fmt.Sprintf("v%d", g.fresh)
}

// flowList is a YAML flow sequence of names.
func flowList(names []string) string { return "[" + strings.Join(names, ", ") + "]" }
