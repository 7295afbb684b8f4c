package xmlfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// Decoder reads the records of an XML document: the elements at the
// configured record path (by default the root's children). It holds one
// record at a time, never the document: memory is bounded by
// xml.max_record_size whatever the file's size.
//
// A malformed document loads the records before the fault: Decode returns
// them, and the next Decode fails with the fault's line; the files source
// then sets the file aside naming it. A record nested deeper than
// xml.max_depth is rejected naming its line and field, and the rest load.
//
// Its Position offset is the byte offset after the last record read; a
// resume reads from the start (the path to the records and the namespaces
// in scope lie before it) and skips the records up to that offset.
type Decoder struct {
	file      string
	in        *byteCounter
	dec       *xml.Decoder
	bom       int64 // bytes of a UTF-8 BOM skipped before the decoder
	steps     []fileformat.XMLStep
	maxDepth  int
	maxRecord int

	open     []bool // the open elements outside any record: whether each is on the record path
	rootSeen bool   // the root element has been read
	done     bool
	pending  error // a fault met after some records of a batch, for the next Decode

	skipTo       int64
	offset, line int64

	rows    rows
	builder recordBuilder
}

var _ fileformat.Decoder = (*Decoder)(nil)

// errTooLarge is what the XML decoder gets from a byteCounter past its
// limit.
var errTooLarge = errors.New("too large")

// byteCounter is the XML decoder's input: it counts the bytes read and
// refuses to read more than limit bytes past mark, so that one record,
// or one text between records, cannot take memory without bound.
type byteCounter struct {
	r     *bufio.Reader
	read  int64
	mark  int64
	limit int64
}

// Read implements io.Reader; encoding/xml reads through ReadByte.
func (c *byteCounter) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := c.ReadByte()
	if err != nil {
		return 0, err
	}
	p[0] = b
	return 1, nil
}

func (c *byteCounter) ReadByte() (byte, error) {
	if c.read-c.mark > c.limit {
		return 0, errTooLarge
	}
	b, err := c.r.ReadByte()
	if err == nil {
		c.read++
	}
	return b, err
}

// NewDecoder returns a decoder of r from opts.Offset. The fields' types
// come from the first records of the file (see sampleTypes), wherever the
// decoder starts.
func NewDecoder(r io.ReadSeeker, opts fileformat.DecodeOptions) (*Decoder, error) {
	sample, err := newDecoder(r, fileformat.DecodeOptions{File: opts.File, XML: opts.XML})
	if err != nil {
		return nil, err
	}
	fixed := sample.sampleTypes()
	d, err := newDecoder(r, opts)
	if err != nil {
		return nil, err
	}
	d.rows.fixed = fixed
	return d, nil
}

// newDecoder returns a decoder of r from its start, skipping the records
// before opts.Offset, that types fields from their first batch.
func newDecoder(r io.ReadSeeker, opts fileformat.DecodeOptions) (*Decoder, error) {
	steps, err := opts.XML.Steps()
	if err != nil {
		return nil, err
	}
	depth, record, err := opts.XML.Limits()
	if err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seek: %w", err)
	}
	br := bufio.NewReaderSize(r, 256<<10)
	d := &Decoder{
		file: opts.File, steps: steps, maxDepth: depth, maxRecord: record,
		skipTo: opts.Offset, rows: rows{file: opts.File},
	}
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\uFEFF")) {
		br.Discard(3)
		d.bom = 3
	}
	d.in = &byteCounter{r: br, limit: int64(record)}
	d.dec = xml.NewDecoder(d.in)
	// The files source has already decoded the text to UTF-8 (csv.encoding:
	// auto reads a BOM, UTF-8, else Windows-1252), so the declaration's
	// encoding is taken as done.
	d.dec.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	return d, nil
}

// batchText bounds the XML text one batch is made from: a batch of 10,000
// product records of 50 KiB each would otherwise hold half a gigabyte.
// A batch ends after the record that passes it.
var batchText int64 = 16 << 20

// Position implements fileformat.Decoder.
func (d *Decoder) Position() (offset, line int64) { return d.offset, d.line }

// where is the decoder's line.
func (d *Decoder) where() int64 {
	line, _ := d.dec.InputPos()
	return int64(line)
}

// fault names the line of an error from the XML decoder. The end of the
// input within the document is io.ErrUnexpectedEOF: an error wrapping
// io.EOF would read as the decoder's clean end.
func (d *Decoder) fault(err error, recordLine int64) error {
	var syn *xml.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("line %d: %s", syn.Line, syn.Msg)
	case errors.Is(err, errTooLarge) && recordLine > 0:
		return fmt.Errorf("line %d: a record larger than %s (xml.max_record_size)", recordLine, fileformat.SizeText(int64(d.maxRecord)))
	case errors.Is(err, errTooLarge):
		return fmt.Errorf("line %d: more than %s of text outside any record (xml.max_record_size)", d.where(), fileformat.SizeText(int64(d.maxRecord)))
	case errors.Is(err, io.EOF):
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("line %d: %w", d.where(), err)
}

// next returns the start of the next record, or io.EOF at the end of a
// well-formed document.
func (d *Decoder) next() (xml.StartElement, error) {
	for {
		d.in.mark = d.in.read
		tok, err := d.dec.Token()
		if errors.Is(err, io.EOF) {
			if !d.rootSeen {
				return xml.StartElement{}, fmt.Errorf("line %d: no root element: the file is not an XML document", d.where())
			}
			return xml.StartElement{}, io.EOF
		}
		if err != nil {
			return xml.StartElement{}, d.fault(err, 0)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth := len(d.open)
			if depth == 0 {
				if d.rootSeen {
					return xml.StartElement{}, fmt.Errorf("line %d: a second root element <%s> (a document has one)", d.where(), t.Name.Local)
				}
				d.rootSeen = true
				if len(d.steps) > 0 && !d.steps[0].Matches(t.Name.Space, t.Name.Local) {
					return xml.StartElement{}, fmt.Errorf("line %d: the root element is %s, record_path starts with %s", d.where(), clark(t.Name), stepName(d.steps[0]))
				}
			}
			onPath := depth == 0 || d.open[depth-1]
			if len(d.steps) == 0 {
				if depth == 1 {
					return t, nil
				}
				onPath = depth == 0
			} else {
				onPath = onPath && depth < len(d.steps) && d.steps[depth].Matches(t.Name.Space, t.Name.Local)
				if onPath && depth == len(d.steps)-1 {
					return t, nil
				}
			}
			d.open = append(d.open, onPath)
		case xml.EndElement:
			d.open = d.open[:len(d.open)-1]
		}
	}
}

// clark writes an element name as {uri}local, or local with no namespace.
func clark(n xml.Name) string {
	if n.Space == "" {
		return "<" + n.Local + ">"
	}
	return "<{" + n.Space + "}" + n.Local + ">"
}

func stepName(s fileformat.XMLStep) string {
	if s.AnySpace {
		return s.Local
	}
	return clark(xml.Name{Space: s.Space, Local: s.Local})
}

// Decode implements fileformat.Decoder.
func (d *Decoder) Decode(ctx context.Context, n int) (*etl.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d.pending != nil {
		return nil, d.pending
	}
	if n <= 0 {
		n = etl.DefaultBatchSize
	}
	d.rows.reset()
	from := d.dec.InputOffset()
	for records := 0; records < n && !d.done && d.dec.InputOffset()-from < batchText; {
		start, err := d.next()
		var read bool
		if err == nil {
			read, err = d.record(start)
		}
		if errors.Is(err, io.EOF) {
			d.done = true
			break
		}
		if err != nil {
			if d.rows.empty() {
				return nil, err
			}
			d.pending = err // the records before the fault load first
			break
		}
		if !read {
			continue
		}
		records++
		if records&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	b, err := d.rows.build()
	if err != nil {
		return nil, err
	}
	if d.done {
		return b, io.EOF
	}
	return b, nil
}

// record reads the record that start opens, up to its end, and adds it as
// a row or a reject; a record before the resume offset is read and
// dropped (read is false). It returns the fault that ends the file, if any.
func (d *Decoder) record(start xml.StartElement) (read bool, err error) {
	line := d.where()
	b := &d.builder
	b.depth, b.root = 0, nil
	b.begin(start)
	tooDeep := ""
	for depth := 1; depth > 0; {
		tok, err := d.dec.Token()
		if err != nil {
			return false, d.fault(err, line)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > d.maxDepth && tooDeep == "" {
				tooDeep = b.field(t.Name.Local)
			}
			if tooDeep == "" {
				b.begin(t)
			}
		case xml.EndElement:
			depth--
			if tooDeep == "" {
				b.end()
			}
		case xml.CharData:
			if tooDeep == "" {
				b.text(t)
			}
		}
	}
	end := d.dec.InputOffset() + d.bom
	if end <= d.skipTo {
		return false, nil
	}
	d.offset, d.line = end, d.where()
	if tooDeep != "" {
		d.rows.reject(line, tooDeep, fmt.Sprintf("line %d: field %q: nested deeper than %d levels (xml.max_depth)", line, tooDeep, d.maxDepth))
		return true, nil
	}
	d.rows.add(b.root, line)
	return true, nil
}

// sampleTypes reads the first typeSample records and returns the types
// they give their fields; nil when they cannot be read (the decoder proper
// then meets the same error).
func (d *Decoder) sampleTypes() map[string]fieldKind {
	if _, err := d.Decode(context.Background(), typeSample); err != nil && !errors.Is(err, io.EOF) {
		return nil
	}
	return d.rows.fixed
}

// recordBuilder builds one record's value from its tokens: a stack of the
// open elements, whose nodes are reused from record to record.
type recordBuilder struct {
	stack []node // stack[:depth] are open
	depth int
	root  *node // the record, once it is closed; valid until the next begin
}

// node is an element being read: its fields in first-seen order (an
// attribute as @name, a child as its local name, repeated children
// gathered into an array) and its text.
type node struct {
	keys     []string
	vals     []any // string, map[string]any or []any (a repeated child)
	text     []byte
	cuts     []int // where child elements split the text
	children bool
	nonSpace bool // the text has more than white space
}

func (b *recordBuilder) begin(t xml.StartElement) {
	if b.depth > 0 {
		parent := &b.stack[b.depth-1]
		parent.children = true
		if len(parent.text) > 0 {
			parent.cuts = append(parent.cuts, len(parent.text))
		}
		parent.keys = append(parent.keys, t.Name.Local) // its value comes at end
		parent.vals = append(parent.vals, nil)
	}
	if b.depth == len(b.stack) {
		b.stack = append(b.stack, node{})
	}
	n := &b.stack[b.depth]
	b.depth++
	clear(n.vals) // drop the last record's values
	*n = node{keys: n.keys[:0], vals: n.vals[:0], text: n.text[:0], cuts: n.cuts[:0]}
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue // a namespace declaration, not data
		}
		n.put("@"+a.Name.Local, a.Value)
	}
}

// field is the record's field that the element being opened lies in: the
// record's child open now, or name itself for a child of the record.
func (b *recordBuilder) field(name string) string {
	if b.depth > 1 {
		return b.stack[0].keys[len(b.stack[0].keys)-1]
	}
	return name
}

func (b *recordBuilder) text(t xml.CharData) {
	n := &b.stack[b.depth-1]
	n.text = append(n.text, t...)
	if !n.nonSpace && len(bytes.TrimSpace(t)) > 0 {
		n.nonSpace = true
	}
}

func (b *recordBuilder) end() {
	b.depth--
	n := &b.stack[b.depth]
	if b.depth == 0 {
		n.finishText()
		b.root = n
		return
	}
	parent := &b.stack[b.depth-1]
	key := parent.keys[len(parent.keys)-1]
	parent.keys, parent.vals = parent.keys[:len(parent.keys)-1], parent.vals[:len(parent.vals)-1]
	parent.put(key, n.value())
}

// put adds key's value; a key already present becomes an array.
func (n *node) put(key string, v any) {
	for i := len(n.keys) - 1; i >= 0; i-- {
		if n.keys[i] == key {
			if arr, ok := n.vals[i].([]any); ok {
				n.vals[i] = append(arr, v)
			} else {
				n.vals[i] = []any{n.vals[i], v}
			}
			return
		}
	}
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, v)
}

// finishText adds the text as #text. Without child elements it is kept
// as it is; with them (mixed content), each run of text between them is
// trimmed of the white space that indents them, and the runs that remain
// are joined by a space.
func (n *node) finishText() {
	switch {
	case len(n.text) == 0:
	case !n.children:
		n.put("#text", string(n.text))
	case n.nonSpace:
		text, runs := string(n.text), make([]string, 0, len(n.cuts)+1)
		from := 0
		for _, cut := range append(n.cuts, len(text)) {
			if run := strings.TrimSpace(text[from:cut]); run != "" {
				runs = append(runs, run)
			}
			from = cut
		}
		n.put("#text", strings.Join(runs, " "))
	}
}

// value is an element's value: its text when it has neither attributes
// nor children, else a map.
func (n *node) value() any {
	if len(n.keys) == 0 && !n.children {
		return string(n.text)
	}
	n.finishText()
	m := make(map[string]any, len(n.keys))
	for i, k := range n.keys {
		m[k] = n.vals[i]
	}
	return m
}
