package transforms

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/nightjar-etl/nightjar/etl"
)

// This file is the expression environment shared by every step that takes
// expr-lang expressions (filter, set, validate, aggregate, score, route): the helper
// functions, the compile options, and the per-batch evaluator that reads the
// current row from the column vectors through one reused env map.

// exprHelper is a function available in every expression. Helpers that
// take text pass a null (nil) through as null instead of failing the row:
// lower(nil) is nil, as SQL would have it.
type exprHelper struct {
	name string
	fn   func(args ...any) (any, error)
	// types are the declared signatures, so the compiler checks the arity;
	// none means variadic.
	types []any
	// clocked, for a helper that reads the time (now()), makes fn from the
	// step's clock (etl.BuildEnv.Clock).
	clocked func(clock etl.Clock) func(args ...any) (any, error)
}

// textHelper adapts a string → string function.
func textHelper(name string, fn func(string) string) exprHelper {
	return exprHelper{name: name, types: []any{new(func(any) any)}, fn: func(args ...any) (any, error) {
		switch v := args[0].(type) {
		case nil:
			return nil, nil
		case string:
			return fn(v), nil
		default:
			return nil, fmt.Errorf("%s wants a string, got %T", name, v)
		}
	}}
}

// exprHelpers shadow expr's builtins of the same name (lower, upper, trim,
// now). Regular expressions use expr's own operator: email matches "@x$".
var exprHelpers = []exprHelper{
	textHelper("lower", strings.ToLower),
	textHelper("upper", strings.ToUpper),
	textHelper("trim", strings.TrimSpace),
	textHelper("email_domain", emailDomain),
	{name: "phone_e164", types: []any{new(func(any) any), new(func(any, string) any)}, fn: func(args ...any) (any, error) {
		if args[0] == nil {
			return nil, nil
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("phone_e164 wants a string, got %T", args[0])
		}
		cc := ""
		if len(args) > 1 {
			cc, _ = args[1].(string)
		}
		if p, ok := phoneE164(s, cc); ok {
			return p, nil
		}
		return nil, nil
	}},
	{name: "coalesce", fn: func(args ...any) (any, error) {
		for _, a := range args {
			if s, isStr := a.(string); a != nil && (!isStr || s != "") {
				return a, nil
			}
		}
		return nil, nil
	}},
	{name: "now", types: []any{new(func() time.Time)}, clocked: func(clock etl.Clock) func(...any) (any, error) {
		return func(...any) (any, error) { return clock.Now().UTC(), nil }
	}},
	{name: "parse_time", types: []any{new(func(any) any), new(func(any, string) any)}, fn: func(args ...any) (any, error) {
		if args[0] == nil {
			return nil, nil
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("parse_time wants a string, got %T", args[0])
		}
		if len(args) > 1 {
			layout, _ := args[1].(string)
			return time.Parse(layout, strings.TrimSpace(s))
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", time.DateOnly} {
			if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
				return t, nil
			}
		}
		return nil, fmt.Errorf("parse_time: %q is not an RFC 3339 time or date", s)
	}},
}

// exprOptions returns the compile options of an expression whose fields are
// not known before the first batch arrives: every identifier that is not a
// helper or a builtin is a field, read from a map[string]any environment and
// nil when null. now() reads clock. extra options (expr.AsBool(), ...) are
// appended.
func exprOptions(clock etl.Clock, extra ...expr.Option) []expr.Option {
	opts := []expr.Option{
		expr.Env(map[string]any{}),
		expr.AllowUndefinedVariables(),
	}
	for _, h := range exprHelpers {
		fn := h.fn
		if h.clocked != nil {
			fn = h.clocked(clock)
		}
		opts = append(opts, expr.Function(h.name, fn, h.types...))
	}
	return append(opts, extra...)
}

// compiledExpr is an expression compiled at validate time, with the field
// names it reads.
type compiledExpr struct {
	source  string
	program *vm.Program
	// fields are the identifiers the expression reads from the environment,
	// sorted; with dynamic set ($env["E-Mail"]) every field is loaded.
	fields  []string
	dynamic bool
}

// compileExpr compiles src with exprOptions(clock, extra...). Its error is expr's,
// with the position and a snippet of the expression.
func compileExpr(clock etl.Clock, src string, extra ...expr.Option) (*compiledExpr, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	if col := tooDeep(src, maxExprDepth); col > 0 {
		return nil, fmt.Errorf("brackets nested deeper than %d levels at column %d", maxExprDepth, col)
	}
	program, err := expr.Compile(src, exprOptions(etl.SystemClockOr(clock), extra...)...)
	if err != nil {
		return nil, err
	}
	if err := checkCallees(program.Node()); err != nil {
		return nil, err
	}
	c := &compiledExpr{source: src, program: program}
	c.fields, c.dynamic = exprFields(program.Node())
	return c, nil
}

// maxExprDepth bounds the nesting of brackets in an expression: expr's
// parser recurses once per level before its node limit applies, and half
// a million levels (a 1 MB config) overflowed the stack, a crash no
// recover catches.
const maxExprDepth = 1000

// tooDeep returns the 1-based column (in bytes) of the first bracket of
// src nested deeper than limit outside string literals, or 0.
func tooDeep(src string, limit int) int {
	depth := 0
	var quote byte
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			if depth++; depth > limit {
				return i + 1
			}
		case c == ')' || c == ']' || c == '}':
			depth--
		}
	}
	return 0
}

// checkCallees refuses calls of unknown functions. With undefined variables
// allowed, expr compiles lowercase(x) as a call of a nil variable that
// would fail on every row; a typo in a function name is a config error.
func checkCallees(root ast.Node) error {
	var err error
	ast.Walk(&root, visitorFunc(func(n *ast.Node) {
		call, ok := (*n).(*ast.CallNode)
		if !ok || err != nil {
			return
		}
		id, ok := call.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		for _, h := range exprHelpers {
			if h.name == id.Value {
				return
			}
		}
		names := make([]string, len(exprHelpers))
		for i, h := range exprHelpers {
			names[i] = h.name
		}
		err = fmt.Errorf("unknown function %q at column %d (have %s and expr-lang's builtins)",
			id.Value, id.Location().From+1, strings.Join(names, ", "))
	}))
	return err
}

// exprFields lists the identifiers of an expression that name fields: not
// the callee of a call, not a variable bound by let. dynamic reports a use
// of $env, through which any field may be read.
func exprFields(root ast.Node) (fields []string, dynamic bool) {
	callees := map[ast.Node]bool{}
	bound := map[string]bool{}
	var idents []*ast.IdentifierNode
	ast.Walk(&root, visitorFunc(func(n *ast.Node) {
		switch x := (*n).(type) {
		case *ast.CallNode:
			callees[x.Callee] = true
		case *ast.VariableDeclaratorNode:
			bound[x.Name] = true
		case *ast.IdentifierNode:
			idents = append(idents, x)
		}
	}))
	seen := map[string]bool{}
	for _, id := range idents {
		switch {
		case callees[id], bound[id.Value], seen[id.Value]:
			continue
		case id.Value == "$env":
			dynamic = true
			continue
		}
		seen[id.Value] = true
		fields = append(fields, id.Value)
	}
	sort.Strings(fields)
	return fields, dynamic
}

type visitorFunc func(*ast.Node)

func (f visitorFunc) Visit(n *ast.Node) { f(n) }

// exprBinding ties a compiled expression to one input schema: which column
// fills which name of the environment. Built once per schema.
type exprBinding struct {
	names []string
	cols  []int
}

// bind resolves the expression's fields against s. A field the schema lacks
// is a config error (most likely a typo, which would otherwise read as null
// on every row), reported with the fields that exist.
func (c *compiledExpr) bind(s *etl.Schema) (*exprBinding, error) {
	if c.dynamic {
		bnd := &exprBinding{names: s.Names(), cols: make([]int, s.Len())}
		for i := range bnd.cols {
			bnd.cols[i] = i
		}
		return bnd, nil
	}
	bnd := &exprBinding{names: c.fields, cols: make([]int, len(c.fields))}
	for i, name := range c.fields {
		j := s.Index(name)
		if j < 0 {
			return nil, missingFieldError(name, s)
		}
		bnd.cols[i] = j
	}
	return bnd, nil
}

// exprEvaluator evaluates a compiled expression row by row over one batch:
// one env map and one VM, reused for every row. Not safe for concurrent use;
// make one per Apply.
//
// Its results may point into b's vectors (cells are boxed in place) and
// into the env map ($env): a result is only valid until the next eval and
// until a step changes b, which is enough for a condition. A result held
// longer needs newHeldExprEvaluator or newKeptExprEvaluator.
type exprEvaluator struct {
	program *vm.Program
	bnd     *exprBinding
	env     map[string]any
	machine vm.VM
	// freshEnv gives every row an env map of its own; freshCells boxes
	// every cell afresh instead of in place.
	freshEnv, freshCells bool
}

func newExprEvaluator(c *compiledExpr, bnd *exprBinding) *exprEvaluator {
	return &exprEvaluator{program: c.program, bnd: bnd, env: make(map[string]any, len(bnd.names))}
}

// newHeldExprEvaluator is an evaluator whose results stay valid across
// evaluations as long as b is unchanged, for a step that collects a
// batch's results before it stores them: an expression reading $env gets
// a new env map per row.
func newHeldExprEvaluator(c *compiledExpr, bnd *exprBinding) *exprEvaluator {
	e := newExprEvaluator(c, bnd)
	e.freshEnv = c.dynamic
	return e
}

// newKeptExprEvaluator is an evaluator whose results share no memory with
// the batch nor with each other, so that they may be stored as they are:
// a map or list an expression builds holds the cells it read, and a cell
// boxed in place would change under it when a later step compacts (Keep)
// or rewrites (trim) the vector. It allocates a box per cell read.
func newKeptExprEvaluator(c *compiledExpr, bnd *exprBinding) *exprEvaluator {
	e := newHeldExprEvaluator(c, bnd)
	e.freshCells = true
	return e
}

// eval evaluates the expression for row i of b. Null fields are nil.
func (e *exprEvaluator) eval(b *etl.Batch, i int) (any, error) {
	if e.freshEnv {
		e.env = make(map[string]any, len(e.bnd.names))
	}
	if e.freshCells {
		for k, col := range e.bnd.cols {
			e.env[e.bnd.names[k]] = b.Cols[col].Value(i)
		}
	} else {
		for k, col := range e.bnd.cols {
			e.env[e.bnd.names[k]] = cellValue(&b.Cols[col], i)
		}
	}
	out, err := e.machine.Run(e.program, e.env)
	if err != nil {
		return nil, errors.New(exprMessage(err))
	}
	return out, nil
}

// exprMessage is the one-line message of an evaluation error, for a
// reject's reason (the full error carries a multi-line source snippet).
func exprMessage(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) && fe.Message != "" {
		return fe.Message
	}
	return err.Error()
}
