package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/nightjar-etl/nightjar/etl"
)

// Prop is one property of an outgoing record, as text (CRM property values
// are strings).
type Prop struct {
	Name  string
	Value string
	Null  bool
	// Type is the field's type, for APIs that take typed JSON values.
	Type etl.Type
}

// AppendJSONValue appends p's value as typed JSON: ints, floats and bools
// as JSON literals, nested values as they are, anything else (and a float
// JSON cannot hold) as a string; null as null.
func AppendJSONValue(dst []byte, p Prop) []byte {
	if p.Null {
		return append(dst, "null"...)
	}
	switch p.Type {
	case etl.TypeInt, etl.TypeBool:
		return append(dst, p.Value...)
	case etl.TypeFloat, etl.TypeJSON:
		// NaN and Inf, and a JSON string scalar (printed bare), are not
		// JSON as they are.
		if json.Valid([]byte(p.Value)) {
			return append(dst, p.Value...)
		}
	}
	return AppendJSONString(dst, p.Value)
}

// Mapping maps API property names to batch fields (the `map:` key).
type Mapping struct {
	props  []string // sorted, so requests and fingerprints are stable
	fields []string
}

// NewMapping builds a mapping from property → field.
func NewMapping(m map[string]string) Mapping {
	var mp Mapping
	for p := range m {
		mp.props = append(mp.props, p)
	}
	sort.Strings(mp.props)
	for _, p := range mp.props {
		mp.fields = append(mp.fields, m[p])
	}
	return mp
}

// Len is the number of mapped properties.
func (m Mapping) Len() int { return len(m.props) }

// Bound is a mapping resolved against one schema.
type Bound struct {
	schema *etl.Schema
	props  []string
	cols   []int
}

// Bind resolves the mapping's fields in s; an unknown field is an error
// naming it and the fields there are.
func (m Mapping) Bind(s *etl.Schema) (*Bound, error) {
	b := &Bound{schema: s, props: m.props, cols: make([]int, len(m.props))}
	for i, f := range m.fields {
		b.cols[i] = s.Index(f)
		if b.cols[i] < 0 {
			return nil, fmt.Errorf("map.%s: field %q is not in the batch (fields: %s)", m.props[i], f, s)
		}
	}
	return b, nil
}

// Schema is the schema the mapping was bound to.
func (b *Bound) Schema() *etl.Schema { return b.schema }

// Row appends row i's properties to dst[:0] and returns it.
func (b *Bound) Row(batch *etl.Batch, i int, dst []Prop) []Prop {
	dst = dst[:0]
	for k, c := range b.cols {
		v, ok := batch.Cols[c].Text(i)
		dst = append(dst, Prop{Name: b.props[k], Value: v, Null: !ok, Type: batch.Cols[c].Type})
	}
	return dst
}

// Fingerprint digests what is sent for one record: its id, its properties
// in order and any extra parts (an association, a note), so that a change
// to any of them changes the digest.
func Fingerprint(id string, props []Prop, extra ...string) string {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	for _, p := range props {
		h.Write([]byte(p.Name))
		if p.Null {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{2})
			h.Write([]byte(p.Value))
		}
		h.Write([]byte{0})
	}
	for _, e := range extra {
		h.Write([]byte{3})
		h.Write([]byte(e))
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// Changes is change detection for a target: it remembers the fingerprint
// of every record delivered, so unchanged records are not sent again.
type Changes struct {
	store  etl.Fingerprints
	target string
	full   bool
	clock  etl.Clock
}

// NewChanges works on env's fingerprint store under env.Name; with
// env.FullRefresh, or without a store, every record counts as changed
// (fingerprints are still saved after delivery).
func NewChanges(env etl.TargetEnv) *Changes {
	clock := env.Clock
	if clock == nil {
		clock = etl.SystemClock{}
	}
	return &Changes{store: env.Fingerprints, target: env.Name, full: env.FullRefresh, clock: clock}
}

// Unchanged reports, per index, whether digests[i] equals the digest last
// saved for ids[i].
func (c *Changes) Unchanged(ctx context.Context, ids, digests []string) ([]bool, error) {
	out := make([]bool, len(ids))
	if c.store == nil || c.full || len(ids) == 0 {
		return out, nil
	}
	stored, err := c.store.Fingerprints(ctx, c.target, ids)
	if err != nil {
		return nil, fmt.Errorf("read fingerprints: %w", err)
	}
	for i, id := range ids {
		if d, ok := stored[id]; ok && d == digests[i] {
			out[i] = true
		}
	}
	return out, nil
}

// Save records the digests of delivered records.
func (c *Changes) Save(ctx context.Context, digests map[string]string) error {
	if c.store == nil || len(digests) == 0 {
		return nil
	}
	if err := c.store.SaveFingerprints(ctx, c.target, digests, c.clock.Now()); err != nil {
		return fmt.Errorf("save fingerprints: %w", err)
	}
	return nil
}

// Rejects collects the rows a target could not deliver, for the runner to
// quarantine (see the TakeRejects methods of the API targets).
type Rejects struct {
	list []etl.Reject
}

// Add records row i of b as refused by the API with reason (already free
// of secrets).
func (r *Rejects) Add(b *etl.Batch, i int, step, field, value, reason string) {
	r.list = append(r.list, etl.Reject{
		Step: step, Origin: b.Origins[i], Field: field, Value: value, Reason: reason, Row: b.RowJSON(i),
	})
}

// Take returns the collected rejects and forgets them.
func (r *Rejects) Take() []etl.Reject {
	out := r.list
	r.list = nil
	return out
}

// Len is the number of rejects not yet taken.
func (r *Rejects) Len() int { return len(r.list) }
