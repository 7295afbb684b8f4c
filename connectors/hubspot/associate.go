package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/etl"
)

// AssociationConfig links each record to a record of another object type
// (an `associate:` entry, keyed by that type): the record is found by the
// value of a field, looked up by a unique property.
type AssociationConfig struct {
	// By is the field holding the other record's key (a company's domain).
	By string `yaml:"by,required" doc:"the field holding the other record's key (a company's domain)"`
	// IDProperty is the property the key is looked up by; default domain
	// for companies and email for contacts.
	IDProperty string `yaml:"id_property" doc:"the property the key is looked up by; default domain for companies and email for contacts"`
	// Create upserts the other record by id_property when it does not
	// exist (with that one property); default false: a missing one
	// quarantines the row.
	Create bool `yaml:"create" doc:"upserts the other record by id_property when it does not exist (with that one property); default false: a missing one quarantines the row"`
	// TypeID is the association type; default HubSpot's unlabeled type for
	// the pair (contact → company 279, company → contact 280, deal →
	// contact 3, contact → deal 4, deal → company 341, company → deal 342).
	TypeID int `yaml:"type_id" doc:"the association type; default HubSpot's unlabeled type for the pair (contact → company 279, company → contact 280, deal → contact 3, contact → deal 4, deal → company 341, company → deal 342)"`
	// Category is HUBSPOT_DEFINED (default) or USER_DEFINED (a custom label).
	Category string `yaml:"category" doc:"HUBSPOT_DEFINED (default) or USER_DEFINED (a custom label)"`
}

// defaultAssociationTypes are HubSpot's unlabeled association type ids.
var defaultAssociationTypes = map[[2]string]int{
	{"contacts", "companies"}: 279, {"companies", "contacts"}: 280,
	{"deals", "contacts"}: 3, {"contacts", "deals"}: 4,
	{"deals", "companies"}: 341, {"companies", "deals"}: 342,
}

// MaxAssociationInputs is the most inputs nightjar puts in one v4
// association batch: one per record of an upsert chunk.
const MaxAssociationInputs = MaxBatchInputs

// association is one configured link, resolved at New.
type association struct {
	to       string
	cfg      AssociationConfig
	extra    int // index of cfg.By in Record.Extra
	resolver *resolver
}

// resolver finds HubSpot ids of one object type by a unique property,
// remembering them for the run.
type resolver struct {
	object   string
	property string
	create   bool
	cache    map[string]string // normalised key → HubSpot id
}

func (r *resolver) norm(s string) string { return normFor(r.property)(s) }

// buildFollowUps validates associate and note; it does no I/O.
func (t *Target) buildFollowUps() error {
	objects := make([]string, 0, len(t.cfg.Associate))
	for obj := range t.cfg.Associate {
		objects = append(objects, obj)
	}
	sort.Strings(objects)
	var extra []string
	for _, obj := range objects {
		a := t.cfg.Associate[obj]
		path := func(key string) []string { return []string{"associate", obj, key} }
		if !objectName.MatchString(obj) {
			return &etl.FieldError{Path: []string{"associate", obj}, Err: errors.New("not an object type (companies, contacts, deals, or a custom object's id)")}
		}
		if a.By == "" {
			return &etl.FieldError{Path: path("by"), Err: errors.New("required: the field holding the key, e.g. company_domain")}
		}
		if a.IDProperty == "" {
			switch obj {
			case "companies":
				a.IDProperty = "domain"
			case "contacts":
				a.IDProperty = "email"
			default:
				return &etl.FieldError{Path: path("id_property"), Err: fmt.Errorf("required for %s: a property with unique values", obj)}
			}
		}
		if a.TypeID == 0 {
			a.TypeID = defaultAssociationTypes[[2]string{t.cfg.Object, obj}]
			if a.TypeID == 0 {
				return &etl.FieldError{Path: path("type_id"), Err: fmt.Errorf("required: no default association type from %s to %s", t.cfg.Object, obj)}
			}
		}
		if a.TypeID < 0 {
			return &etl.FieldError{Path: path("type_id"), Err: fmt.Errorf("%d is negative", a.TypeID)}
		}
		switch a.Category {
		case "":
			a.Category = "HUBSPOT_DEFINED"
		case "HUBSPOT_DEFINED", "USER_DEFINED":
		default:
			return &etl.FieldError{Path: path("category"), Err: fmt.Errorf("%q: want HUBSPOT_DEFINED or USER_DEFINED", a.Category)}
		}
		t.assocs = append(t.assocs, &association{to: obj, cfg: a, extra: len(extra),
			resolver: &resolver{object: obj, property: a.IDProperty, create: a.Create}})
		extra = append(extra, a.By)
	}
	if len(extra) > 0 {
		// The keys are digested with the record: a lead moving to another
		// company is sent again.
		t.outbox.WithExtra(extra...)
	}
	if t.cfg.Note != nil {
		n, err := newNotes(*t.cfg.Note, t.cfg.Object, t.outbox.IDField())
		if err != nil {
			return err
		}
		t.notes = n
	}
	t.needIDs = len(t.assocs) > 0 || t.notes != nil
	return nil
}

// openFollowUps resets the run's caches and counts.
func (t *Target) openFollowUps(env etl.TargetEnv) {
	t.self.cache = map[string]string{}
	for _, a := range t.assocs {
		a.resolver.cache = map[string]string{}
	}
	if t.notes != nil {
		t.notes.open(env)
	}
}

// resolve returns the HubSpot ids of keys (normalised), and for the keys
// without one, why. It reads (or, with create, upserts) at most 100 per
// request and remembers what it found.
func (t *Target) resolve(ctx context.Context, r *resolver, keys []string) (map[string]string, map[string]string, error) {
	ids := make(map[string]string, len(keys))
	why := map[string]string{}
	var need []string
	for _, k := range keys {
		k = r.norm(k)
		if id, ok := r.cache[k]; ok {
			ids[k] = id
		} else if _, dup := why[k]; !dup {
			why[k] = ""
			need = append(need, k)
		}
	}
	for start := 0; start < len(need); start += MaxBatchInputs {
		part := need[start:min(start+MaxBatchInputs, len(need))]
		verb, body := "read", r.readBody(part)
		if r.create {
			verb, body = "upsert", r.upsertBody(part)
		}
		resp, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: "/crm/v3/objects/" + r.object + "/batch/" + verb, Body: body})
		if err != nil {
			return nil, nil, fmt.Errorf("find %s by %s: %w", r.object, r.property, err)
		}
		t.Counts.Requests++
		byKey := make(map[string]int, len(part))
		for k, key := range part {
			byKey[key] = k
		}
		o, err := reconcile(resp, len(part), byKey, func(_ string, props map[string]string) string { return props[r.property] },
			r.norm, false, t.Client.Redactor())
		if err != nil {
			return nil, nil, fmt.Errorf("find %s by %s: %w", r.object, r.property, err)
		}
		for k, key := range part {
			switch {
			case o.state[k] == done && o.ids[k] != "":
				r.cache[key], ids[key] = o.ids[k], o.ids[k]
				delete(why, key)
			case o.state[k] == failed:
				why[key] = o.reason[k]
			default:
				why[key] = "not found"
			}
		}
	}
	return ids, why, nil
}

func (r *resolver) readBody(keys []string) []byte {
	buf := append([]byte(nil), `{"idProperty":`...)
	buf = httpapi.AppendJSONString(buf, r.property)
	buf = append(buf, `,"properties":[`...)
	buf = httpapi.AppendJSONString(buf, r.property)
	buf = append(buf, `],"inputs":[`...)
	for k, key := range keys {
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"id":`...)
		buf = httpapi.AppendJSONString(buf, key)
		buf = append(buf, '}')
	}
	return append(buf, "]}"...)
}

func (r *resolver) upsertBody(keys []string) []byte {
	buf := append([]byte(nil), `{"inputs":[`...)
	for k, key := range keys {
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"id":`...)
		buf = httpapi.AppendJSONString(buf, key)
		buf = append(buf, `,"idProperty":`...)
		buf = httpapi.AppendJSONString(buf, r.property)
		buf = append(buf, `,"objectWriteTraceId":"`...)
		buf = strconv.AppendInt(buf, int64(k), 10)
		buf = append(buf, `","properties":{`...)
		buf = httpapi.AppendJSONString(buf, r.property)
		buf = append(buf, ':')
		buf = httpapi.AppendJSONString(buf, key)
		buf = append(buf, "}}"...)
	}
	return append(buf, "]}"...)
}

// ownIDs fills in the HubSpot ids accepted lacks (a 200 without results)
// by reading them; records whose id cannot be found are refused and
// dropped from accepted.
func (t *Target) ownIDs(ctx context.Context, b *etl.Batch, chunk []httpapi.Record, accepted map[string]string, what string) error {
	var keys []string
	for _, r := range chunk {
		if id, ok := accepted[r.ID]; ok && id == "" {
			keys = append(keys, r.ID)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	ids, why, err := t.resolve(ctx, t.self, keys)
	if err != nil {
		return err
	}
	for _, r := range chunk {
		if id, ok := accepted[r.ID]; ok && id == "" {
			k := t.self.norm(r.ID)
			if ids[k] == "" {
				t.refuse(b, r.Row, t.outbox.IDField(), r.ID, fmt.Sprintf("upserted, but HubSpot gave no id to %s: %s", what, why[k]))
				delete(accepted, r.ID)
				continue
			}
			accepted[r.ID] = ids[k]
		}
	}
	return nil
}

// associate links the accepted records of chunk to their association k;
// a record whose link fails is refused and dropped from accepted, so its
// fingerprint is not saved and the next run sends it again (creating an
// association that exists is harmless).
func (t *Target) associate(ctx context.Context, b *etl.Batch, chunk []httpapi.Record, k int, accepted map[string]string) error {
	a := t.assocs[k]
	var keys []string
	for _, r := range chunk {
		if _, ok := accepted[r.ID]; ok && !r.Extra[a.extra].Null && strings.TrimSpace(r.Extra[a.extra].Value) != "" {
			keys = append(keys, r.Extra[a.extra].Value)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if err := t.ownIDs(ctx, b, chunk, accepted, "associate it"); err != nil {
		return err
	}
	toIDs, why, err := t.resolve(ctx, a.resolver, keys)
	if err != nil {
		return err
	}
	type link struct {
		rec      httpapi.Record
		from, to string
	}
	var links []link
	for _, r := range chunk {
		from, ok := accepted[r.ID]
		v := r.Extra[a.extra]
		if !ok || v.Null || strings.TrimSpace(v.Value) == "" {
			continue
		}
		key := a.resolver.norm(v.Value)
		to := toIDs[key]
		if to == "" {
			t.refuse(b, r.Row, a.cfg.By, v.Value, fmt.Sprintf("HubSpot: no %s with %s %q to associate: %s", a.to, a.cfg.IDProperty, key, why[key]))
			delete(accepted, r.ID)
			continue
		}
		links = append(links, link{r, from, to})
	}
	for start := 0; start < len(links); start += MaxAssociationInputs {
		part := links[start:min(start+MaxAssociationInputs, len(links))]
		buf := append([]byte(nil), `{"inputs":[`...)
		for i, l := range part {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"from":{"id":`...)
			buf = httpapi.AppendJSONString(buf, l.from)
			buf = append(buf, `},"to":{"id":`...)
			buf = httpapi.AppendJSONString(buf, l.to)
			buf = append(buf, `},"types":[{"associationCategory":`...)
			buf = httpapi.AppendJSONString(buf, a.cfg.Category)
			buf = append(buf, `,"associationTypeId":`...)
			buf = strconv.AppendInt(buf, int64(a.cfg.TypeID), 10)
			buf = append(buf, "}]}"...)
		}
		buf = append(buf, "]}"...)
		path := "/crm/v4/associations/" + t.cfg.Object + "/" + a.to + "/batch/create"
		resp, err := t.Client.Do(ctx, httpapi.Request{Method: http.MethodPost, Path: path, Body: buf})
		if err != nil {
			return fmt.Errorf("associate %s: %w", a.to, err)
		}
		t.Counts.Requests++
		froms := make([]string, len(part))
		for i, l := range part {
			froms[i] = l.from
		}
		bad := linkFailures(resp, froms, t.Client.Redactor())
		for i, l := range part {
			if reason, ok := bad[i]; ok {
				t.refuse(b, l.rec.Row, a.cfg.By, l.rec.Extra[a.extra].Value, "HubSpot: associate "+a.to+": "+reason)
				delete(accepted, l.rec.ID)
			}
		}
	}
	return nil
}

// linkFailures reconciles a v4 association batch answer: a 207 lists the
// links made in results (by from and to ids) and the failures in errors;
// it returns the failed inputs' indexes with the reason. Every input of a
// 207 is accounted for: one in neither list failed.
func linkFailures(resp *httpapi.Response, froms []string, red *httpapi.Redactor) map[int]string {
	bad := map[int]string{}
	if resp.Status != http.StatusMultiStatus {
		return bad
	}
	var ar struct {
		Results []struct {
			From json.RawMessage `json:"fromObjectId"`
		} `json:"results"`
		Errors []struct {
			Message  string                     `json:"message"`
			Category string                     `json:"category"`
			Context  map[string]json.RawMessage `json:"context"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(resp.Body, &ar); err != nil {
		for i := range froms {
			bad[i] = "HTTP 207 with an unreadable answer"
		}
		return bad
	}
	index := make(map[string]int, len(froms))
	for i, f := range froms {
		index[f] = i
	}
	ok := make([]bool, len(froms))
	for _, r := range ar.Results {
		if i, found := index[strings.Trim(string(r.From), `"`)]; found {
			ok[i] = true
		}
	}
	unmatched := ""
	for _, e := range ar.Errors {
		msg := red.Redact(e.Message)
		if e.Category != "" {
			msg = e.Category + ": " + msg
		}
		matched := false
		for _, raw := range e.Context {
			var vals []string
			if json.Unmarshal(raw, &vals) != nil {
				continue
			}
			for _, v := range vals {
				if i, found := index[v]; found && !ok[i] {
					bad[i], matched = msg, true
				}
			}
		}
		if !matched {
			unmatched = msg
		}
	}
	for i := range froms {
		if _, failed := bad[i]; !ok[i] && !failed {
			bad[i] = "HTTP 207 without a result for this link"
			if unmatched != "" {
				bad[i] += ": " + unmatched
			}
		}
	}
	return bad
}
