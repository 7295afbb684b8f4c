package gqlapi

import (
	"fmt"
	"os"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// LoadSchemaFile reads an SDL schema; errors name the file and line.
func LoadSchemaFile(path string) (*ast.Schema, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, gerr := gqlparser.LoadSchema(&ast.Source{Name: path, Input: string(src)})
	if gerr != nil {
		return nil, describe(path, gerr)
	}
	return s, nil
}

// ParseQuery parses a query document without a schema (syntax only).
func ParseQuery(name, src string) (*ast.QueryDocument, error) {
	doc, err := parser.ParseQuery(&ast.Source{Name: name, Input: src})
	if err != nil {
		return nil, describe(name, err)
	}
	return doc, nil
}

// Validate checks a query document against schema: every field, argument
// and type as the schema has them. Errors name the query's file and line.
func Validate(schema *ast.Schema, name, src string) (*ast.QueryDocument, error) {
	doc, errs := gqlparser.LoadQueryWithRules(schema, src, nil)
	if len(errs) > 0 {
		return nil, describe(name, errs)
	}
	return doc, nil
}

// CheckVariables checks variable values against an operation's variable
// definitions and schema's types (a string where an Int belongs, a
// missing non-null variable).
func CheckVariables(schema *ast.Schema, op *ast.OperationDefinition, vars map[string]any) error {
	if _, err := validator.VariableValues(schema, op, vars); err != nil {
		return describe("", err)
	}
	return nil
}

// describe turns gqlparser's errors into one error naming file:line:col.
func describe(name string, err error) error {
	var list gqlerror.List
	switch e := err.(type) {
	case gqlerror.List:
		list = e
	case *gqlerror.Error:
		list = gqlerror.List{e}
	default:
		return err
	}
	msgs := make([]string, 0, len(list))
	for _, e := range list {
		where := name
		if len(e.Path) > 0 {
			where = "$" + strings.TrimPrefix(e.Path.String(), "variable.")
		}
		if len(e.Locations) > 0 {
			where = fmt.Sprintf("%s:%d:%d", name, e.Locations[0].Line, e.Locations[0].Column)
		}
		if where != "" {
			msgs = append(msgs, where+": "+e.Message)
		} else {
			msgs = append(msgs, e.Message)
		}
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// Operation picks the operation named name from doc, or its only one.
func Operation(doc *ast.QueryDocument, name string) (*ast.OperationDefinition, error) {
	if name != "" {
		if op := doc.Operations.ForName(name); op != nil {
			return op, nil
		}
		return nil, fmt.Errorf("no operation %q in the query", name)
	}
	if len(doc.Operations) != 1 {
		return nil, fmt.Errorf("the query has %d operations: name one with the operation key", len(doc.Operations))
	}
	return doc.Operations[0], nil
}
