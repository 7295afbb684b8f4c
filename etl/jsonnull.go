package etl

// JSONNull is a JSON null held as the value of a TypeJSON field: a value
// that is present (a jsonb 'null'), unlike a null field (SQL NULL, a
// Column's Null mark). Sources that can tell the two apart append it;
// it encodes as null through encoding/json, so targets write it as JSON.
// Within nested values (maps, slices) a JSON null stays a Go nil.
var JSONNull = jsonNull{}

type jsonNull struct{}

// MarshalJSON returns null.
func (jsonNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// String returns "null".
func (jsonNull) String() string { return "null" }
