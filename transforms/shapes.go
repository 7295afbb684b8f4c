package transforms

import "github.com/nightjar-etl/nightjar/etl"

// ConfigShape says what YAML each config type that decodes itself takes;
// the reference docs show it where a struct would show its keys
// (etl.Shaper).

// ConfigShape implements etl.Shaper.
func (*FieldList) ConfigShape() string { return "a field name or a list of field names" }

// ConfigShape implements etl.Shaper.
func (*DropConfig) ConfigShape() string {
	return "a list of fields, or { fields: [...], missing_ok: true } to accept inputs that lack some"
}

// ConfigShape implements etl.Shaper.
func (*RenameConfig) ConfigShape() string {
	return "a mapping of old field name: new field name, in order"
}

// ConfigShape implements etl.Shaper.
func (*SetConfig) ConfigShape() string {
	return "a mapping of field: expression, or field: { expr: '...', type: int } to fix the type; each expression sees the fields set before it"
}

// ConfigShape implements etl.Shaper.
func (*DefaultConfig) ConfigShape() string {
	return "a mapping of field: value, filling nulls (and blank strings) with the value converted to the field's type"
}

// ConfigShape implements etl.Shaper.
func (*CoalesceConfig) ConfigShape() string {
	return "a mapping of field: [source fields], the first non-null of them in order"
}

// ConfigShape implements etl.Shaper.
func (*CastConfig) ConfigShape() string {
	return "a mapping of field: type name, or field: { type, layout (or layouts), tz, decimal_comma }"
}

// ConfigShape implements etl.Shaper.
func (*CastRule) ConfigShape() string {
	return "a type name, or { type, layout (or layouts), tz, decimal_comma }"
}

// ConfigShape implements etl.Shaper.
func (*TemplateConfig) ConfigShape() string {
	return "a mapping of field: Go template reading {{ .name }} (functions lower, upper, trim, default)"
}

// ConfigShape implements etl.Shaper.
func (*FilterConfig) ConfigShape() string {
	return "an expression keeping the rows where it is true, or { expr: '...' }"
}

// ConfigShape implements etl.Shaper.
func (*ValidateConfig) ConfigShape() string {
	return "a mapping of field: rule, or field: [rules]; a rule is required, email, phone, url, unique, or " +
		"{ regex | enum | min | max | length | expr: ..., action: reject | warn | fail }"
}

// ConfigShape implements etl.Shaper.
func (*ExtractConfig) ConfigShape() string {
	return "a mapping of new field: { from, pattern (email, phone, card, iban, url) or regex, all, regions }"
}

// ConfigShape implements etl.Shaper.
func (*RouteConfig) ConfigShape() string {
	return "a mapping of route name: condition; a target takes a route's rows with name: ROUTE"
}

// ConfigShape implements etl.Shaper.
func (*AggregateFields) ConfigShape() string {
	return "a mapping of output field: { FUNCTION: field, where, sep, distinct }, FUNCTION one of count, sum, avg, min, max, first, last, collect, concat"
}

// ConfigShape implements etl.Shaper.
func (*ColumnMap) ConfigShape() string {
	return "a name, a list of names, or a mapping of field: column"
}

var _ = []etl.Shaper{
	(*FieldList)(nil), (*DropConfig)(nil), (*RenameConfig)(nil), (*SetConfig)(nil), (*DefaultConfig)(nil),
	(*CoalesceConfig)(nil), (*CastConfig)(nil), (*CastRule)(nil), (*TemplateConfig)(nil), (*FilterConfig)(nil),
	(*ValidateConfig)(nil), (*ExtractConfig)(nil), (*RouteConfig)(nil), (*AggregateFields)(nil), (*ColumnMap)(nil),
}
