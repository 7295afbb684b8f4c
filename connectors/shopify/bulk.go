package shopify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// operation is a BulkOperation as the API returns it. objectCount is an
// UnsignedInt64, which Shopify sends as a string.
type operation struct {
	ID             string          `json:"id"`
	Status         string          `json:"status"`
	ErrorCode      string          `json:"errorCode"`
	ObjectCount    json.RawMessage `json:"objectCount"`
	URL            string          `json:"url"`
	PartialDataURL string          `json:"partialDataUrl"`
}

func (op *operation) running() bool {
	switch op.Status {
	case "CREATED", "RUNNING", "CANCELING":
		return true
	}
	return false
}

func (op *operation) count() (int64, error) {
	raw := strings.Trim(string(op.ObjectCount), `"`)
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bulk operation %s: objectCount %s is not a count", op.ID, op.ObjectCount)
	}
	return n, nil
}

// ErrAlreadyRunning is a bulk query already running in the shop when the
// run starts, with on_running: refuse (or past running_wait).
var ErrAlreadyRunning = errors.New("a bulk query is already running in the shop")

// ErrShortResult is a result whose line count is not the operation's
// objectCount: nothing is loaded, the position is kept.
var ErrShortResult = errors.New("the bulk result does not have the operation's objectCount lines")

// call runs one operation of bulk.graphql and decodes its data into out.
func (s *Source) call(ctx context.Context, name string, vars map[string]any, out any) error {
	resp, err := s.gql.Do(ctx, s.bulkDoc, name, vars)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := json.Unmarshal(resp.Data, out); err != nil {
		return fmt.Errorf("%s: %s", name, httpapi.JSONProblem(err))
	}
	return nil
}

func (s *Source) current(ctx context.Context) (*operation, error) {
	var data struct {
		Op *operation `json:"currentBulkOperation"`
	}
	err := s.call(ctx, "CurrentBulkOperation", nil, &data)
	return data.Op, err
}

func (s *Source) poll(ctx context.Context, id string) (*operation, error) {
	var data struct {
		Op *operation `json:"node"`
	}
	if err := s.call(ctx, "BulkOperation", map[string]any{"id": id}, &data); err != nil {
		return nil, err
	}
	if data.Op == nil || data.Op.Status == "" {
		return nil, fmt.Errorf("bulk operation %s: node(id) returned no bulk operation", id)
	}
	return data.Op, nil
}

// errStillRunning is an operation still running when a wait's limit ran out.
var errStillRunning = errors.New("still running")

// wait polls op until it is no longer running, for at most limit.
func (s *Source) wait(ctx context.Context, op *operation, limit time.Duration, what string) (*operation, error) {
	deadline := s.gql.HTTP().Now().Add(limit)
	for op.running() {
		if !s.gql.HTTP().Now().Before(deadline) {
			return op, fmt.Errorf("%s %s is %s after %s: %w", what, op.ID, op.Status, limit, errStillRunning)
		}
		if err := s.gql.HTTP().Sleep(ctx, s.cfg.PollInterval); err != nil {
			return op, err
		}
		next, err := s.poll(ctx, op.ID)
		if err != nil {
			return op, err
		}
		op = next
		s.logger().Info("shopify source: bulk operation", "id", op.ID, "status", op.Status, "objects", strings.Trim(string(op.ObjectCount), `"`))
	}
	return op, nil
}

// export runs the bulk operation and reads its result into s.rows, with
// the position after them in s.final. It fails, changing nothing, when
// another bulk query is running (refuse, or past running_wait), when
// Shopify refuses or fails the operation, and when the result does not
// have objectCount lines.
func (s *Source) export(ctx context.Context) error {
	cur, err := s.current(ctx)
	if err != nil {
		return err
	}
	if cur != nil && cur.running() {
		if s.cfg.OnRunning == "refuse" {
			return fmt.Errorf("%w (%s, %s): Shopify runs one bulk query per app and shop; on_running: refuse", ErrAlreadyRunning, cur.ID, cur.Status)
		}
		s.logger().Info("shopify source: waiting for the bulk query already running", "id", cur.ID, "status", cur.Status, "running_wait", s.cfg.RunningWait)
		if _, err := s.wait(ctx, cur, s.cfg.RunningWait, "the bulk query already running"); err != nil {
			if errors.Is(err, errStillRunning) {
				return fmt.Errorf("%w: %w (running_wait)", ErrAlreadyRunning, err)
			}
			return err
		}
	}
	since := s.from()
	var started struct {
		Run struct {
			Op         *operation `json:"bulkOperation"`
			UserErrors []struct {
				Field   []string `json:"field"`
				Message string   `json:"message"`
			} `json:"userErrors"`
		} `json:"bulkOperationRunQuery"`
	}
	if err := s.call(ctx, "RunBulkQuery", map[string]any{"query": s.BulkQuery(since)}, &started); err != nil {
		return err
	}
	if ue := started.Run.UserErrors; len(ue) > 0 {
		msgs := make([]string, len(ue))
		for i, e := range ue {
			msgs[i] = e.Message
			if len(e.Field) > 0 {
				msgs[i] = strings.Join(e.Field, ".") + ": " + e.Message
			}
		}
		return fmt.Errorf("bulkOperationRunQuery refused: %s", strings.Join(msgs, "; "))
	}
	op := started.Run.Op
	if op == nil || op.ID == "" {
		return errors.New("bulkOperationRunQuery returned no operation")
	}
	s.logger().Info("shopify source: bulk operation started", "id", op.ID, "since", since)
	if op, err = s.wait(ctx, op, s.cfg.BulkTimeout, "bulk operation"); err != nil {
		return err
	}
	if op.Status != "COMPLETED" {
		msg := fmt.Sprintf("bulk operation %s ended %s", op.ID, op.Status)
		if op.ErrorCode != "" {
			msg += " (" + op.ErrorCode + ")"
		}
		if op.PartialDataURL != "" {
			msg += "; its partial data is not loaded"
		}
		return errors.New(msg)
	}
	want, err := op.count()
	if err != nil {
		return err
	}
	var objs []record
	lines := int64(0)
	if op.URL != "" {
		objs, lines, err = s.download(ctx, op)
		if err != nil {
			return err
		}
	}
	if lines != want {
		return fmt.Errorf("%w: bulk operation %s counted %d objects, its result has %d lines; nothing is loaded and the position is kept",
			ErrShortResult, op.ID, want, lines)
	}
	s.keep(objs)
	return nil
}

// from is the updated_at the export asks from: the mark less the overlap.
func (s *Source) from() string {
	if s.prev.Since == "" || s.cfg.Incremental == nil {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, s.prev.Since)
	if err != nil {
		return s.prev.Since
	}
	return t.Add(-s.cfg.Incremental.Overlap).UTC().Format(time.RFC3339)
}

// download reads the JSONL result: each line an object; a line with
// __parentId is a child, put back under its parent in the field its
// __typename maps to. It returns the top-level objects in file order and
// the number of lines.
func (s *Source) download(ctx context.Context, op *operation) ([]record, int64, error) {
	resp, err := s.files.Do(ctx, httpapi.Request{Path: op.URL, Stream: true, Header: map[string][]string{"Accept": {"application/jsonl"}}})
	if err != nil {
		return nil, 0, fmt.Errorf("download the result of %s: %w", op.ID, err)
	}
	defer resp.Reader.Close()
	sc := bufio.NewScanner(resp.Reader)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	byID := map[string]map[string]any{}
	pending := map[string][]map[string]any{} // children before their parent
	pendingLine := map[string]int{}
	var tops []record
	line := 0
	attach := func(parent, child map[string]any, n int) error {
		typ, _ := child["__typename"].(string)
		field, ok := s.res.children[typ]
		if !ok {
			return fmt.Errorf("result line %d: a child of type %q has no place under its parent", n, typ)
		}
		delete(child, "__parentId")
		delete(child, "__typename")
		list, _ := parent[field].([]any)
		parent[field] = append(list, child)
		return nil
	}
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			line--
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil || obj == nil {
			return nil, 0, fmt.Errorf("result line %d is not a JSON object", line)
		}
		id, _ := obj["id"].(string)
		parent, isChild := obj["__parentId"].(string)
		if isChild {
			if p, ok := byID[parent]; ok {
				if err := attach(p, obj, line); err != nil {
					return nil, 0, err
				}
			} else {
				pending[parent] = append(pending[parent], obj)
				pendingLine[parent] = line
			}
		} else {
			tops = append(tops, record{obj: obj, line: line})
		}
		if id != "" {
			byID[id] = obj
			for _, c := range pending[id] {
				if err := attach(obj, c, line); err != nil {
					return nil, 0, err
				}
			}
			delete(pending, id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("read the result of %s at line %d: %w", op.ID, line+1, err)
	}
	for p := range pending {
		return nil, 0, fmt.Errorf("result line %d: __parentId %s names no object of the result", pendingLine[p], p)
	}
	for _, t := range tops {
		// Children are put back into their parents: the columns hold them.
		for _, field := range s.res.children {
			if _, ok := t.obj[field]; !ok {
				t.obj[field] = []any{}
			}
		}
	}
	return tops, int64(line), nil
}

// keep deduplicates the records by id (the latest updatedAt wins, the
// first line on a tie), drops those loaded before at the same updatedAt,
// and sets the position after them: the largest updatedAt loaded, and the
// records within the overlap window before it.
func (s *Source) keep(objs []record) {
	latest := map[string]int{}
	var out []record
	skipped := 0
	for _, r := range objs {
		id, _ := r.obj["id"].(string)
		upd, _ := r.obj["updatedAt"].(string)
		if id != "" && s.prev.Seen[id] == upd && upd != "" {
			skipped++
			continue
		}
		if i, ok := latest[id]; ok && id != "" {
			if old, _ := out[i].obj["updatedAt"].(string); httpapi.Later(upd, old) {
				out[i] = r
			}
			continue
		}
		latest[id] = len(out)
		out = append(out, r)
	}
	if skipped > 0 {
		s.logger().Info("shopify source: records already loaded in the overlap window skipped", "records", skipped)
	}
	if s.schema == nil {
		maps := make([]map[string]any, len(out))
		for i, r := range out {
			maps[i] = r.obj
		}
		s.schema, s.app.Cols = httpapi.InferSchema(maps)
		if len(s.app.Cols) == 0 {
			s.schema = etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeString})
			s.app.Cols = []string{"id"}
		}
	}
	// The records go into batches now, so that only those that loaded (a
	// value that does not fit fields: is quarantined) move the mark.
	mark := s.prev.Since
	size := max(s.env.BatchSize, 1)
	s.batches = nil
	for start := 0; start == 0 || start < len(out); start += size {
		chunk := out[start:min(start+size, len(out))]
		b := etl.NewBatch(s.schema, len(chunk))
		for _, r := range chunk {
			if !s.app.Append(b, r.obj, etl.Origin{Cursor: fmt.Sprintf("%s line %d", s.cfg.Resource, r.line)}) {
				continue
			}
			if upd, ok := r.obj["updatedAt"].(string); ok && httpapi.Later(upd, mark) {
				mark = upd
			}
		}
		s.batches = append(s.batches, b)
	}
	final := Position{Since: mark, Seen: map[string]string{}}
	if s.cfg.Incremental != nil {
		if t, err := time.Parse(time.RFC3339Nano, mark); err == nil {
			edge := t.Add(-s.cfg.Incremental.Overlap)
			for _, r := range objs {
				id, _ := r.obj["id"].(string)
				upd, _ := r.obj["updatedAt"].(string)
				if u, err := time.Parse(time.RFC3339Nano, upd); err == nil && id != "" && !u.Before(edge) {
					if httpapi.Later(upd, final.Seen[id]) {
						final.Seen[id] = upd
					}
				}
			}
		}
	} else {
		final = Position{}
	}
	s.final = final
}
