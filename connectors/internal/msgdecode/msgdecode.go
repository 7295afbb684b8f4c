package msgdecode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// Message is one broker message as the decoder sees it.
type Message struct {
	Payload []byte
	// Subject is the NATS subject or the AMQP routing key.
	Subject string
	// Headers are the message's headers, each as its list of values.
	Headers map[string][]string
	// Seq is the broker's sequence of the message (the stream sequence, the
	// delivery tag), for the sequence field and origins.
	Seq uint64
	// Origin names the message in errors and quarantined rows ("nats
	// stream LEADS seq 12").
	Origin string
}

// Fields names the fields the message's envelope becomes; an empty name
// leaves that field out.
type Fields struct {
	Subject  string `yaml:"subject" doc:"a field to hold the message's subject (routing key); left out when empty"`
	Headers  string `yaml:"headers" doc:"a field to hold the message's headers, as JSON; left out when empty"`
	Sequence string `yaml:"sequence" doc:"a field to hold the message's sequence number (delivery tag); left out when empty"`
}

// Config is how payloads are decoded: the source's `format`, `csv`, `json`
// and `fields` keys.
type Config struct {
	// Format is jsonl (the default: one JSON object per line, a message
	// holding one object is one line), json (an array of objects per
	// message) or csv (a CSV document per message, with its header unless
	// csv.header is false).
	Format string                 `yaml:"format" doc:"jsonl (the default: one JSON object per line, a message holding one object is one line), json (an array of objects per message) or csv (a CSV document per message, with its header unless csv.header is false)"`
	CSV    fileformat.CSVOptions  `yaml:"csv" doc:"how a csv payload is read"`
	JSON   fileformat.JSONOptions `yaml:"json" doc:"how a json payload is read"`
	Fields Fields                 `yaml:"fields" doc:"fields the message's envelope becomes"`
}

// Defaults returns the defaults of the decoding keys.
func Defaults() Config {
	return Config{Format: "jsonl", CSV: fileformat.DefaultCSVOptions(),
		Fields: Fields{Subject: "_subject", Headers: "_headers", Sequence: "_seq"}}
}

// Decoder decodes messages into batches.
type Decoder struct {
	cfg    Config
	format fileformat.Format
	// schemas caches the schema with the envelope fields per decoded
	// schema, so equal batches share one pointer.
	schemas map[*etl.Schema]*etl.Schema
}

// New checks cfg; an error names the key at fault.
func New(cfg Config) (*Decoder, error) {
	switch cfg.Format {
	case "jsonl", "json", "csv":
	default:
		return nil, &etl.FieldError{Path: []string{"format"}, Err: fmt.Errorf("%q: want jsonl, json or csv", cfg.Format)}
	}
	f, ok := fileformat.Lookup(cfg.Format)
	if !ok {
		return nil, &etl.FieldError{Path: []string{"format"}, Err: fmt.Errorf("format %q is not linked into this binary", cfg.Format)}
	}
	if _, err := cfg.CSV.DelimiterByte(); err != nil {
		return nil, &etl.FieldError{Path: []string{"csv", "delimiter"}, Err: err}
	}
	names := map[string]bool{}
	for key, name := range map[string]string{"subject": cfg.Fields.Subject, "headers": cfg.Fields.Headers, "sequence": cfg.Fields.Sequence} {
		if name != "" && names[name] {
			return nil, &etl.FieldError{Path: []string{"fields", key}, Err: fmt.Errorf("%q names two envelope fields", name)}
		}
		names[name] = name != ""
	}
	return &Decoder{cfg: cfg, format: f, schemas: map[*etl.Schema]*etl.Schema{}}, nil
}

// Decode decodes msgs into one batch. A message whose payload yields no
// row (an empty payload, a CSV header only) yields none; a record that
// does not decode is a reject naming its message. When a message's
// records do not share the schema of those before it (another CSV
// header), the batch ends before it: n is the number of messages the
// batch holds, at least one.
func (d *Decoder) Decode(ctx context.Context, msgs []Message) (b *etl.Batch, n int, err error) {
	if len(msgs) == 0 {
		return nil, 0, errors.New("msgdecode: no messages")
	}
	if d.cfg.Format == "jsonl" {
		b, err = d.decodeLines(ctx, msgs)
		return b, len(msgs), err
	}
	return d.decodeEach(ctx, msgs)
}

// decodeLines decodes JSON Lines payloads in one pass over their
// concatenation, each payload ending a line; the line numbers then say
// which message each row came from.
func (d *Decoder) decodeLines(ctx context.Context, msgs []Message) (*etl.Batch, error) {
	size := 0
	for _, m := range msgs {
		size += len(m.Payload) + 1
	}
	buf := make([]byte, 0, size)
	// firstLine[i] is the line of the concatenation where message i begins.
	firstLine := make([]int64, len(msgs))
	line := int64(1)
	for i, m := range msgs {
		firstLine[i] = line
		buf = append(buf, m.Payload...)
		if len(m.Payload) == 0 || m.Payload[len(m.Payload)-1] != '\n' {
			buf = append(buf, '\n')
		}
		line += int64(bytes.Count(m.Payload, []byte{'\n'}))
		if len(m.Payload) == 0 || m.Payload[len(m.Payload)-1] != '\n' {
			line++
		}
	}
	b, err := d.decodeAll(ctx, buf, "messages")
	if err != nil {
		return nil, err
	}
	at := func(o etl.Origin) (int, etl.Origin) {
		i := sort.Search(len(firstLine), func(i int) bool { return firstLine[i] > o.Line }) - 1
		i = max(i, 0)
		return i, etl.Origin{File: msgs[i].Origin, Line: o.Line - firstLine[i] + 1}
	}
	idx := make([]int, b.Len())
	for r := range b.Origins {
		idx[r], b.Origins[r] = at(b.Origins[r])
	}
	for r := range b.Rejects {
		_, b.Rejects[r].Origin = at(b.Rejects[r].Origin)
	}
	return d.envelope(b, msgs, idx)
}

// decodeEach decodes each payload on its own (a CSV document with its
// header, a JSON array), joining the messages whose rows share a schema.
func (d *Decoder) decodeEach(ctx context.Context, msgs []Message) (*etl.Batch, int, error) {
	var out *etl.Batch
	var idx []int
	n := 0
	for i, m := range msgs {
		b, err := d.decodeAll(ctx, m.Payload, m.Origin)
		if err != nil {
			return nil, 0, err
		}
		if out == nil {
			out = b
		} else if b.Len() > 0 && out.Len() > 0 && !sameFields(out.Schema, b.Schema) {
			break
		} else if out.Len() == 0 && b.Len() > 0 {
			b.Rejects = append(out.Rejects, b.Rejects...)
			out = b
			idx = idx[:0]
		} else {
			if err := appendRows(out, b); err != nil {
				return nil, 0, err
			}
			out.Rejects = append(out.Rejects, b.Rejects...)
		}
		for range b.Len() {
			idx = append(idx, i)
		}
		n++
	}
	if len(idx) != out.Len() {
		return nil, 0, fmt.Errorf("msgdecode: %d rows for %d origins", out.Len(), len(idx))
	}
	out, err := d.envelope(out, msgs, idx)
	return out, n, err
}

// decodeAll decodes all of payload as one file named name.
func (d *Decoder) decodeAll(ctx context.Context, payload []byte, name string) (*etl.Batch, error) {
	dec, err := d.format.NewDecoder(bytes.NewReader(payload), fileformat.DecodeOptions{File: name, CSV: d.cfg.CSV, JSON: d.cfg.JSON})
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	var out *etl.Batch
	for {
		b, err := dec.Decode(ctx, 1<<20)
		if b != nil {
			if out == nil {
				out = b
			} else {
				if !sameFields(out.Schema, b.Schema) {
					return nil, fmt.Errorf("decode %s: records of more than one shape in one message", name)
				}
				if err := appendRows(out, b); err != nil {
					return nil, err
				}
				out.Rejects = append(out.Rejects, b.Rejects...)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", name, err)
		}
	}
	if out == nil {
		out = etl.NewBatch(etl.MustSchema(), 0)
	}
	return out, nil
}

func sameFields(a, b *etl.Schema) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i := range a.Len() {
		if a.Field(i) != b.Field(i) {
			return false
		}
	}
	return true
}

// appendRows appends b's rows to out, whose fields are the same.
func appendRows(out, b *etl.Batch) error {
	for c := range out.Cols {
		col := &b.Cols[c]
		for r := range b.Len() {
			if err := out.Cols[c].Append(col.Value(r)); err != nil {
				return fmt.Errorf("append %s row %d: %w", b.Origins[r], r, err)
			}
		}
	}
	out.Origins = append(out.Origins, b.Origins...)
	return nil
}

// envelope adds the subject, headers and sequence fields of each row's
// message (idx[r] is row r's message).
func (d *Decoder) envelope(b *etl.Batch, msgs []Message, idx []int) (*etl.Batch, error) {
	f := d.cfg.Fields
	if f.Subject == "" && f.Headers == "" && f.Sequence == "" {
		return b, nil
	}
	schema, ok := d.schemas[b.Schema]
	if !ok {
		fields := b.Schema.Fields()
		for _, extra := range []etl.Field{{Name: f.Subject, Type: etl.TypeString}, {Name: f.Headers, Type: etl.TypeJSON}, {Name: f.Sequence, Type: etl.TypeInt}} {
			if extra.Name == "" {
				continue
			}
			if b.Schema.Index(extra.Name) >= 0 {
				return nil, fmt.Errorf("a payload field is named %q, as the message's envelope field: rename it under fields", extra.Name)
			}
			fields = append(fields, extra)
		}
		var err error
		if schema, err = etl.NewSchema(fields...); err != nil {
			return nil, err
		}
		if len(d.schemas) > 64 {
			clear(d.schemas)
		}
		d.schemas[b.Schema] = schema
	}
	n := b.Len()
	if f.Subject != "" {
		c := etl.NewColumn(etl.TypeString, n)
		for _, i := range idx {
			c.AppendString(msgs[i].Subject)
		}
		b.Cols = append(b.Cols, c)
	}
	if f.Headers != "" {
		c := etl.NewColumn(etl.TypeJSON, n)
		for _, i := range idx {
			if len(msgs[i].Headers) == 0 {
				c.AppendNull()
				continue
			}
			h := make(map[string]any, len(msgs[i].Headers))
			for k, vs := range msgs[i].Headers {
				if len(vs) == 1 {
					h[k] = vs[0]
				} else {
					list := make([]any, len(vs))
					for j, v := range vs {
						list[j] = v
					}
					h[k] = list
				}
			}
			c.AppendJSON(h)
		}
		b.Cols = append(b.Cols, c)
	}
	if f.Sequence != "" {
		c := etl.NewColumn(etl.TypeInt, n)
		for _, i := range idx {
			c.AppendInt(int64(msgs[i].Seq))
		}
		b.Cols = append(b.Cols, c)
	}
	b.Schema = schema
	return b, nil
}
