package httpapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/nightjar-etl/nightjar/etl"
)

// Record is one outgoing record: its batch row, id, properties and the
// fingerprint of what is sent.
type Record struct {
	Row    int
	ID     string
	Digest string
	Props  []Prop
	// Extra holds the values of the outbox's extra fields (an association
	// key, a note's contact), in order: part of the digest, not sent as
	// properties.
	Extra []Prop
}

// Outbox turns batches into records for an upserting API target: the
// mapped properties and the id, one record per id (the last row wins, as
// batch APIs refuse an id twice in one request).
type Outbox struct {
	mapping Mapping
	idField string
	// LowerID folds ids to lower case (emails, which CRMs store so).
	LowerID bool

	bound *Bound
	idCol int

	extra     []string
	extraCols []int
}

// WithExtra adds fields whose values are read into Record.Extra and
// digested with the properties, so a change to them sends the record
// again. It returns o.
func (o *Outbox) WithExtra(fields ...string) *Outbox {
	o.extra = append(o.extra, fields...)
	o.bound = nil
	return o
}

// NewOutbox reads ids from idField and properties through mapping.
func NewOutbox(mapping Mapping, idField string) *Outbox {
	return &Outbox{mapping: mapping, idField: idField}
}

// IDField is the field ids are read from.
func (o *Outbox) IDField() string { return o.idField }

// Collect reads b's records. A row without an id is passed to noID (to be
// rejected) and skipped.
func (o *Outbox) Collect(b *etl.Batch, noID func(row int)) ([]Record, error) {
	if o.bound == nil || o.bound.Schema() != b.Schema {
		bound, err := o.mapping.Bind(b.Schema)
		if err != nil {
			return nil, err
		}
		o.idCol = b.Schema.Index(o.idField)
		if o.idCol < 0 {
			return nil, fmt.Errorf("id field %q is not in the batch (fields: %s)", o.idField, b.Schema)
		}
		o.extraCols = o.extraCols[:0]
		for _, f := range o.extra {
			c := b.Schema.Index(f)
			if c < 0 {
				return nil, fmt.Errorf("field %q is not in the batch (fields: %s)", f, b.Schema)
			}
			o.extraCols = append(o.extraCols, c)
		}
		o.bound = bound
	}
	idCol := &b.Cols[o.idCol]
	last := make(map[string]int, b.Len())
	recs := make([]Record, 0, b.Len())
	for i := 0; i < b.Len(); i++ {
		id, ok := idCol.Text(i)
		id = strings.TrimSpace(id)
		if !ok || id == "" {
			noID(i)
			continue
		}
		if o.LowerID {
			id = strings.ToLower(id)
		}
		props := o.bound.Row(b, i, nil)
		r := Record{Row: i, ID: id, Props: props}
		if len(o.extraCols) == 0 {
			r.Digest = Fingerprint(id, props)
		} else {
			r.Extra = make([]Prop, len(o.extraCols))
			parts := make([]string, len(o.extraCols))
			for k, c := range o.extraCols {
				v, ok := b.Cols[c].Text(i)
				r.Extra[k] = Prop{Name: o.extra[k], Value: v, Null: !ok, Type: b.Cols[c].Type}
				if ok {
					parts[k] = o.extra[k] + "=" + v
				} else {
					parts[k] = o.extra[k] + "\x00null"
				}
			}
			r.Digest = Fingerprint(id, props, parts...)
		}
		if j, dup := last[id]; dup {
			recs[j] = r
			continue
		}
		last[id] = len(recs)
		recs = append(recs, r)
	}
	return recs, nil
}

// Filter drops the records whose fingerprint matches the one saved when
// they were last delivered; it returns the rest and how many it dropped.
func (c *Changes) Filter(ctx context.Context, recs []Record) ([]Record, int, error) {
	ids := make([]string, len(recs))
	digests := make([]string, len(recs))
	for i, r := range recs {
		ids[i], digests[i] = r.ID, r.Digest
	}
	same, err := c.Unchanged(ctx, ids, digests)
	if err != nil {
		return nil, 0, err
	}
	changed := recs[:0]
	for i, r := range recs {
		if !same[i] {
			changed = append(changed, r)
		}
	}
	return changed, len(recs) - len(changed), nil
}

// Deliver sends b's changed records, size per call of send, which returns
// the ids and digests of the records the API accepted; those are saved
// after each call, so a run failing later does not send them again. Rows
// without an id go to noID. It returns how many records were unchanged.
// Errors are returned as they are; the caller adds its name.
func Deliver(ctx context.Context, b *etl.Batch, o *Outbox, c *Changes, size int, noID func(row int),
	send func(ctx context.Context, chunk []Record) (map[string]string, error)) (int, error) {
	recs, err := o.Collect(b, noID)
	if err != nil {
		return 0, err
	}
	changed, unchanged, err := c.Filter(ctx, recs)
	if err != nil {
		return 0, err
	}
	for start := 0; start < len(changed); start += size {
		delivered, err := send(ctx, changed[start:min(start+size, len(changed))])
		if err != nil {
			return unchanged, err
		}
		if err := c.Save(ctx, delivered); err != nil {
			return unchanged, err
		}
	}
	return unchanged, nil
}
