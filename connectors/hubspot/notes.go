package hubspot

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// NoteConfig attaches a note to each record (the `note:` key): a
// conversation summary on its contact. A note is made once per key and
// updated in place when its text changes, so a nightly sync neither
// repeats nor duplicates notes.
type NoteConfig struct {
	// Key is the field identifying the note (a conversation id).
	Key string `yaml:"key,required" doc:"the field identifying the note (a conversation id)"`
	// Body is the field holding the note's text (hs_note_body); a row
	// whose body is null or blank gets no note.
	Body string `yaml:"body,required" doc:"the field holding the note's text (hs_note_body); a row whose body is null or blank gets no note"`
	// Timestamp is the field holding the note's time (hs_timestamp);
	// default the time it is sent.
	Timestamp string `yaml:"timestamp" doc:"the field holding the note's time (hs_timestamp); default the time it is sent"`
	// HTML sends the body as it is; by default it is text, escaped, with
	// line breaks kept.
	HTML bool `yaml:"html" doc:"sends the body as it is; by default it is text, escaped, with line breaks kept"`
	// TypeID is the note → record association type; default 202 for
	// contacts, 190 for companies, 214 for deals, 228 for tickets.
	TypeID int `yaml:"type_id" doc:"the note → record association type; default 202 for contacts, 190 for companies, 214 for deals, 228 for tickets"`
}

var defaultNoteTypes = map[string]int{"contacts": 202, "companies": 190, "deals": 214, "tickets": 228}

// NoteStats counts the notes of a run.
type NoteStats struct {
	Created   int64
	Updated   int64
	Unchanged int64
}

// notes is the note follow-up of a target.
type notes struct {
	cfg    NoteConfig
	outbox *httpapi.Outbox
	// changes holds the digests of notes sent, under "<target> notes".
	changes *httpapi.Changes
	// ids remembers each note key's HubSpot id, under "<target> note ids",
	// so that a changed note is updated, not made again.
	ids     etl.Fingerprints
	idsName string
	clock   etl.Clock
	target  string
	stats   NoteStats
}

func newNotes(cfg NoteConfig, object, parentField string) (*notes, error) {
	if cfg.Key == "" {
		return nil, &etl.FieldError{Path: []string{"note", "key"}, Err: errors.New("required: the field identifying the note, e.g. conversation_id")}
	}
	if cfg.Body == "" {
		return nil, &etl.FieldError{Path: []string{"note", "body"}, Err: errors.New("required: the field holding the note's text")}
	}
	if cfg.TypeID == 0 {
		cfg.TypeID = defaultNoteTypes[object]
		if cfg.TypeID == 0 {
			return nil, &etl.FieldError{Path: []string{"note", "type_id"}, Err: fmt.Errorf("required: no default note association type for %s", object)}
		}
	}
	m := map[string]string{"hs_note_body": cfg.Body}
	if cfg.Timestamp != "" {
		m["hs_timestamp"] = cfg.Timestamp
	}
	// The parent's key is digested too: a note moving to another record is
	// sent again.
	return &notes{cfg: cfg, outbox: httpapi.NewOutbox(httpapi.NewMapping(m), cfg.Key).WithExtra(parentField)}, nil
}

func (n *notes) open(env etl.TargetEnv) {
	ne := env
	ne.Name += " notes"
	n.changes = httpapi.NewChanges(ne)
	n.ids, n.idsName = env.Fingerprints, env.Name+" note ids"
	n.clock = env.Clock
	if n.clock == nil {
		n.clock = etl.SystemClock{}
	}
	n.stats, n.target = NoteStats{}, env.Name
}

// NoteStats returns the note counts of the run so far.
func (t *Target) NoteStats() NoteStats {
	if t.notes == nil {
		return NoteStats{}
	}
	return t.notes.stats
}

// writeNotes makes or updates the changed notes of b, after the records
// they attach to were delivered. A note whose record was refused waits
// for the record's next delivery.
func (t *Target) writeNotes(ctx context.Context, b *etl.Batch) error {
	n := t.notes
	unchanged, err := httpapi.Deliver(ctx, b, n.outbox, n.changes, MaxBatchInputs, func(i int) {
		if t.refused[i] {
			return
		}
		if c := b.Schema.Index(n.cfg.Body); c >= 0 {
			if v, ok := b.Cols[c].Text(i); ok && strings.TrimSpace(v) != "" {
				t.refuse(b, i, n.cfg.Key, "", "no "+n.cfg.Key+": the note cannot be kept once")
			}
		}
	}, func(ctx context.Context, chunk []httpapi.Record) (map[string]string, error) {
		return t.sendNotes(ctx, b, chunk)
	})
	n.stats.Unchanged += int64(unchanged)
	return err
}

// sendNotes updates the notes of chunk that HubSpot has, creates the
// others attached to their record, and returns those done.
func (t *Target) sendNotes(ctx context.Context, b *etl.Batch, chunk []httpapi.Record) (map[string]string, error) {
	n := t.notes
	var todo []httpapi.Record
	var parents, keys []string
	for _, r := range chunk {
		body, parent := r.Props[0], r.Extra[0]
		if t.refused[r.Row] || body.Null || strings.TrimSpace(body.Value) == "" || parent.Null {
			continue
		}
		todo = append(todo, r)
		parents = append(parents, parent.Value)
		keys = append(keys, r.ID)
	}
	delivered := make(map[string]string, len(todo))
	if len(todo) == 0 {
		return delivered, nil
	}
	parentIDs, why, err := t.resolve(ctx, t.self, parents)
	if err != nil {
		return nil, err
	}
	known := map[string]string{}
	if n.ids != nil {
		if known, err = n.ids.Fingerprints(ctx, n.idsName, keys); err != nil {
			return nil, fmt.Errorf("read note ids: %w", err)
		}
	}
	var creates, updates []httpapi.Record
	for _, r := range todo {
		p := t.self.norm(r.Extra[0].Value)
		if parentIDs[p] == "" {
			t.refuse(b, r.Row, n.cfg.Key, r.ID, fmt.Sprintf("HubSpot: no %s with %s %q to attach the note to: %s", t.cfg.Object, t.cfg.IDProperty, p, why[p]))
			continue
		}
		if known[r.ID] != "" {
			updates = append(updates, r)
		} else {
			creates = append(creates, r)
		}
	}
	gone, err := t.updateNotes(ctx, b, updates, known, delivered)
	if err != nil {
		return nil, err
	}
	// A note deleted in HubSpot since is made again.
	creates = append(creates, gone...)
	if err := t.createNotes(ctx, b, creates, parentIDs, delivered); err != nil {
		return nil, err
	}
	return delivered, nil
}

// noteProps appends a note's properties as a JSON object.
func (t *Target) noteProps(buf []byte, r httpapi.Record) []byte {
	n := t.notes
	body := r.Props[0].Value
	if !n.cfg.HTML {
		body = strings.ReplaceAll(html.EscapeString(body), "\n", "<br>")
	}
	buf = append(buf, `{"hs_note_body":`...)
	buf = httpapi.AppendJSONString(buf, body)
	buf = append(buf, `,"hs_timestamp":`...)
	if len(r.Props) > 1 && !r.Props[1].Null {
		buf = httpapi.AppendJSONString(buf, r.Props[1].Value)
	} else {
		buf = httpapi.AppendJSONString(buf, n.clock.Now().UTC().Format(time.RFC3339Nano))
	}
	return append(buf, '}')
}

// updateNotes updates notes HubSpot has by id; it returns those HubSpot no
// longer has.
func (t *Target) updateNotes(ctx context.Context, b *etl.Batch, recs []httpapi.Record, known, delivered map[string]string) ([]httpapi.Record, error) {
	var gone []httpapi.Record
	for start := 0; start < len(recs); start += MaxBatchInputs {
		part := recs[start:min(start+MaxBatchInputs, len(recs))]
		buf := append([]byte(nil), `{"inputs":[`...)
		byID := make(map[string]int, len(part))
		for k, r := range part {
			if k > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"id":`...)
			buf = httpapi.AppendJSONString(buf, known[r.ID])
			buf = append(buf, `,"objectWriteTraceId":"`...)
			buf = strconv.AppendInt(buf, int64(k), 10)
			buf = append(buf, `","properties":`...)
			buf = t.noteProps(buf, r)
			buf = append(buf, '}')
			byID[known[r.ID]] = k
		}
		buf = append(buf, "]}"...)
		resp, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: "/crm/v3/objects/notes/batch/update", Body: buf})
		if err != nil {
			return nil, fmt.Errorf("update notes: %w", err)
		}
		t.Counts.Requests++
		o, err := reconcile(resp, len(part), byID, func(id string, _ map[string]string) string { return id }, strings.TrimSpace, false, t.Client.Redactor())
		if err != nil {
			return nil, fmt.Errorf("update notes: %w", err)
		}
		for k, r := range part {
			switch {
			case o.state[k] == done:
				delivered[r.ID] = r.Digest
				t.notes.stats.Updated++
			case o.state[k] == failed && strings.HasPrefix(o.reason[k], "OBJECT_NOT_FOUND"):
				gone = append(gone, r)
			case o.state[k] == failed:
				t.refuse(b, r.Row, t.notes.cfg.Key, r.ID, "HubSpot: update note: "+o.reason[k])
			default:
				t.refuse(b, r.Row, t.notes.cfg.Key, r.ID, "update note: "+o.missing(resp.Status))
			}
		}
	}
	return gone, nil
}

// createNotes makes notes attached to their records and remembers their
// ids at once, so that a run failing later updates them instead.
func (t *Target) createNotes(ctx context.Context, b *etl.Batch, recs []httpapi.Record, parentIDs, delivered map[string]string) error {
	n := t.notes
	for start := 0; start < len(recs); start += MaxBatchInputs {
		part := recs[start:min(start+MaxBatchInputs, len(recs))]
		buf := append([]byte(nil), `{"inputs":[`...)
		for k, r := range part {
			if k > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"objectWriteTraceId":"`...)
			buf = strconv.AppendInt(buf, int64(k), 10)
			buf = append(buf, `","properties":`...)
			buf = t.noteProps(buf, r)
			buf = append(buf, `,"associations":[{"to":{"id":`...)
			buf = httpapi.AppendJSONString(buf, parentIDs[t.self.norm(r.Extra[0].Value)])
			buf = append(buf, `},"types":[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":`...)
			buf = strconv.AppendInt(buf, int64(n.cfg.TypeID), 10)
			buf = append(buf, "}]}]}"...)
		}
		buf = append(buf, "]}"...)
		resp, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: "/crm/v3/objects/notes/batch/create", Body: buf})
		if err != nil {
			return fmt.Errorf("create notes: %w", err)
		}
		t.Counts.Requests++
		o, err := reconcile(resp, len(part), nil, nil, strings.TrimSpace, true, t.Client.Redactor())
		if err != nil {
			return fmt.Errorf("create notes: %w", err)
		}
		made := map[string]string{}
		for k, r := range part {
			switch o.state[k] {
			case done:
				delivered[r.ID] = r.Digest
				n.stats.Created++
				if o.ids[k] != "" {
					made[r.ID] = o.ids[k]
				}
			case failed:
				t.refuse(b, r.Row, n.cfg.Key, r.ID, "HubSpot: create note: "+o.reason[k])
			default:
				t.refuse(b, r.Row, n.cfg.Key, r.ID, "create note: "+o.missing(resp.Status))
			}
		}
		if n.ids != nil && len(made) > 0 {
			if err := n.ids.SaveFingerprints(ctx, n.idsName, made, n.clock.Now()); err != nil {
				return fmt.Errorf("save note ids: %w", err)
			}
		}
	}
	return nil
}
