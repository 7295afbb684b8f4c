package hubspot_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/hubspot"
	"github.com/nightjar-etl/nightjar/etl"
)

// conversations builds one row per conversation: the contact's email,
// its company's domain, the conversation id, summary and end time.
func conversations(rows ...[5]any) *etl.Batch {
	b := etl.NewBatch(etl.MustSchema(
		etl.Field{Name: "email", Type: etl.TypeString},
		etl.Field{Name: "company_domain", Type: etl.TypeString},
		etl.Field{Name: "conversation_id", Type: etl.TypeString},
		etl.Field{Name: "summary", Type: etl.TypeString},
		etl.Field{Name: "ended_at", Type: etl.TypeString},
	), len(rows))
	for i, r := range rows {
		for c, v := range r {
			if v == nil {
				b.Cols[c].AppendNull()
			} else {
				b.Cols[c].AppendString(v.(string))
			}
		}
		b.Origins = append(b.Origins, etl.Origin{File: "conversations.jsonl", Line: int64(i + 1)})
	}
	return b
}

var followCfg = hubspot.TargetConfig{
	Object: "contacts", Map: map[string]string{"email": "email"},
	Associate: map[string]hubspot.AssociationConfig{"companies": {By: "company_domain"}},
}

func (e *emulator) contactID(email string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ids["contacts/"+email]
}

func TestAssociatesContactsWithCompanies(t *testing.T) {
	t.Parallel()
	var acme, globex string
	h := setup(t, followCfg, func(e *emulator) {
		acme = e.addRecord("companies", "acme.com", map[string]string{"domain": "acme.com"})
		globex = e.addRecord("companies", "globex.com", map[string]string{"domain": "globex.com"})
		e.linkFail = map[string]string{}
	})
	ctx := context.Background()
	b := conversations(
		[5]any{"ada@acme.com", "Acme.com", nil, nil, nil},
		[5]any{"bob@globex.com", "globex.com", nil, nil, nil},
		[5]any{"cy@acme.com", "acme.com", nil, nil, nil},
		[5]any{"dee@nowhere.org", "nowhere.org", nil, nil, nil},
		[5]any{"eve@gmail.com", nil, nil, nil, nil},
	)
	if err := h.target.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	wantLinks := map[string]bool{
		h.em.contactID("ada@acme.com") + "->" + acme:     true,
		h.em.contactID("bob@globex.com") + "->" + globex: true,
		h.em.contactID("cy@acme.com") + "->" + acme:      true,
	}
	if diff := cmp.Diff(wantLinks, h.em.links); diff != "" {
		t.Errorf("associations (-want +got):\n%s", diff)
	}
	rejects := h.target.TakeRejects()
	if len(rejects) != 1 || rejects[0].Origin.Line != 4 || rejects[0].Field != "company_domain" ||
		rejects[0].Reason != `HubSpot: no companies with domain "nowhere.org" to associate: OBJECT_NOT_FOUND: Could not get some objects, they may be deleted or not exist.` {
		t.Fatalf("rejects = %+v, want dee's unknown company", rejects)
	}
	wantPaths := []string{"/crm/v3/objects/contacts/batch/upsert", "/crm/v3/objects/companies/batch/read", "/crm/v4/associations/contacts/companies/batch/create"}
	if diff := cmp.Diff(wantPaths, h.em.paths); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if s := h.target.Stats(); s.Sent != 4 || s.Rejected != 1 || s.Requests != 3 {
		t.Errorf("stats = %+v, want 4 sent (eve without a company), 1 rejected, 3 requests", s)
	}

	// Again: only dee goes (her contact is upserted again, harmlessly);
	// a new company for ada (an extra part of her fingerprint) sends her.
	h.em.paths = nil
	b.Cols[1].Str[0] = "globex.com"
	if err := h.target.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if !h.em.links[h.em.contactID("ada@acme.com")+"->"+globex] {
		t.Error("ada's move to globex was not associated")
	}
	if s := h.target.Stats(); s.Sent != 5 || s.Unchanged != 3 {
		t.Errorf("stats = %+v, want ada sent again and 3 unchanged", s)
	}
	// globex's id is remembered from the first write: one read, for dee's.
	if n := strings.Count(strings.Join(h.em.paths, " "), "companies/batch/read"); n != 1 {
		t.Errorf("%d company reads on the second write, want 1 (nowhere.org): %v", n, h.em.paths)
	}
}

func TestFailedAssociationQuarantinesTheRow(t *testing.T) {
	t.Parallel()
	h := setup(t, followCfg, func(e *emulator) {
		e.addRecord("companies", "acme.com", map[string]string{"domain": "acme.com"})
	})
	ctx := context.Background()
	b := conversations([5]any{"ada@acme.com", "acme.com", nil, nil, nil}, [5]any{"bob@acme.com", "acme.com", nil, nil, nil})
	// The contact ids are made by the upsert; fail bob's link once known.
	h.em.mu.Lock()
	bob := h.em.idOf("contacts/bob@acme.com")
	h.em.linkFail = map[string]string{bob: "association limit reached for this record"}
	h.em.mu.Unlock()
	if err := h.target.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	r := h.target.TakeRejects()
	if len(r) != 1 || r[0].Origin.Line != 2 || r[0].Reason != "HubSpot: associate companies: VALIDATION_ERROR: association limit reached for this record" {
		t.Fatalf("rejects = %+v", r)
	}
	if len(h.fp.m) != 1 {
		t.Errorf("%d fingerprints saved, want ada's only: bob is sent again next run", len(h.fp.m))
	}
}

func TestAssociationCreatesMissingCompanies(t *testing.T) {
	t.Parallel()
	cfg := followCfg
	cfg.Associate = map[string]hubspot.AssociationConfig{"companies": {By: "company_domain", Create: true}}
	h := setup(t, cfg, func(e *emulator) { e.omitIDs = true })
	if err := h.target.Write(context.Background(), conversations([5]any{"ada@acme.com", "ACME.com", nil, nil, nil})); err != nil {
		t.Fatal(err)
	}
	// A 200 upsert without results: the contact's id is read by email.
	want := []string{"/crm/v3/objects/contacts/batch/upsert", "/crm/v3/objects/contacts/batch/read",
		"/crm/v3/objects/companies/batch/upsert", "/crm/v4/associations/contacts/companies/batch/create"}
	if diff := cmp.Diff(want, h.em.paths); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if got := h.em.records["companies/acme.com"]; got["domain"] != "acme.com" {
		t.Errorf("company = %v, want it created by its lower-case domain", got)
	}
	if len(h.em.links) != 1 || len(h.target.TakeRejects()) != 0 {
		t.Errorf("links %v", h.em.links)
	}
}

var notesCfg = hubspot.TargetConfig{
	Object: "contacts", Map: map[string]string{"email": "email"},
	Note: &hubspot.NoteConfig{Key: "conversation_id", Body: "summary", Timestamp: "ended_at"},
}

func TestConversationSummariesBecomeNotes(t *testing.T) {
	t.Parallel()
	h := setup(t, notesCfg, nil)
	ctx := context.Background()
	b := conversations(
		[5]any{"ada@acme.com", nil, "c1", "Asked about <pricing>\nwants a demo", "2026-11-24T10:00:00Z"},
		[5]any{"ada@acme.com", nil, "c2", "Booked the demo", "2026-11-24T16:30:00Z"},
		[5]any{"bob@globex.com", nil, "c3", nil, "2026-11-24T11:00:00Z"},
		[5]any{"cy@acme.com", nil, nil, "no conversation id", "2026-11-24T12:00:00Z"},
	)
	if err := h.target.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	ada := h.em.contactID("ada@acme.com")
	want := map[string]map[string]string{
		"n1": {"hs_note_body": "Asked about &lt;pricing&gt;<br>wants a demo", "hs_timestamp": "2026-11-24T10:00:00Z"},
		"n2": {"hs_note_body": "Booked the demo", "hs_timestamp": "2026-11-24T16:30:00Z"},
	}
	if diff := cmp.Diff(want, h.em.notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"n1": ada, "n2": ada}, h.em.noteLinks); diff != "" {
		t.Errorf("note associations (-want +got):\n%s", diff)
	}
	r := h.target.TakeRejects()
	if len(r) != 1 || r[0].Origin.Line != 4 || r[0].Field != "conversation_id" {
		t.Errorf("rejects = %+v, want cy's summary without a conversation id", r)
	}
	if s := h.target.NoteStats(); s != (hubspot.NoteStats{Created: 2}) {
		t.Errorf("note stats = %+v", s)
	}

	// A new run (a new target on the same state): nothing changed, no
	// note request.
	reopen := func() *hubspot.Target {
		tg, err := hubspot.New(notesCfg, etl.BuildEnv{Connection: connection(h.em.URL)})
		if err != nil {
			t.Fatal(err)
		}
		if err := tg.Open(ctx, etl.TargetEnv{Name: "targets[0] crm contacts", Clock: h.clock, Fingerprints: h.fp}); err != nil {
			t.Fatal(err)
		}
		return tg
	}
	tg := reopen()
	before := h.em.noteRequests
	if err := tg.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if h.em.noteRequests != before || tg.NoteStats().Unchanged != 2 {
		t.Errorf("unchanged summaries: %d note requests, stats %+v", h.em.noteRequests-before, tg.NoteStats())
	}

	// c2's summary is revised: its note is updated in place (ada's contact
	// is unchanged, so her id is read by email).
	b.Cols[3].Str[1] = "Booked the demo for Friday"
	h.em.paths = nil
	tg = reopen()
	if err := tg.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if len(h.em.notes) != 2 || h.em.notes["n2"]["hs_note_body"] != "Booked the demo for Friday" {
		t.Errorf("notes after a revision: %v", h.em.notes)
	}
	wantPaths := []string{"/crm/v3/objects/contacts/batch/read", "/crm/v3/objects/notes/batch/update"}
	if diff := cmp.Diff(wantPaths, h.em.paths); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	// A note deleted in HubSpot and then revised is made again.
	h.em.mu.Lock()
	delete(h.em.notes, "n1")
	h.em.mu.Unlock()
	b.Cols[3].Str[0] = "Asked about pricing"
	tg = reopen()
	if err := tg.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if h.em.notes["n3"]["hs_note_body"] != "Asked about pricing" || h.em.noteLinks["n3"] != ada || len(h.em.notes) != 2 {
		t.Errorf("notes = %v, want c1 made again as n3", h.em.notes)
	}
	if s := tg.NoteStats(); s.Created != 1 || s.Updated != 0 {
		t.Errorf("note stats = %+v", s)
	}
}

func TestNoteWaitsForItsRefusedContact(t *testing.T) {
	t.Parallel()
	h := setup(t, notesCfg, func(e *emulator) { e.invalid = map[string]string{"ada@acme.com": `Property "email" is invalid`} })
	b := conversations([5]any{"ada@acme.com", nil, "c1", "hello", "2026-11-24T10:00:00Z"})
	if err := h.target.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if r := h.target.TakeRejects(); len(r) != 1 || !strings.Contains(r[0].Reason, "is invalid") {
		t.Errorf("rejects = %+v, want the contact's refusal once", r)
	}
	if h.em.noteRequests != 0 || len(h.fp.m) != 0 {
		t.Errorf("%d note requests, %d fingerprints: the note must wait for its contact", h.em.noteRequests, len(h.fp.m))
	}
}

func TestFollowUpConfigErrors(t *testing.T) {
	t.Parallel()
	conn := connection("https://api.hubapi.com")
	for _, tc := range []struct {
		cfg  hubspot.TargetConfig
		path string
	}{
		{hubspot.TargetConfig{Object: "contacts", Map: map[string]string{"email": "email"},
			Associate: map[string]hubspot.AssociationConfig{"companies": {}}}, "associate.companies.by"},
		{hubspot.TargetConfig{Object: "contacts", Map: map[string]string{"email": "email"},
			Associate: map[string]hubspot.AssociationConfig{"p_tickets": {By: "t", IDProperty: "ref"}}}, "associate.p_tickets.type_id"},
		{hubspot.TargetConfig{Object: "contacts", Map: map[string]string{"email": "email"},
			Associate: map[string]hubspot.AssociationConfig{"companies": {By: "d", Category: "MINE"}}}, "associate.companies.category"},
		{hubspot.TargetConfig{Object: "contacts", Map: map[string]string{"email": "email"},
			Associate: map[string]hubspot.AssociationConfig{"deals": {By: "d"}}}, "associate.deals.id_property"},
		{hubspot.TargetConfig{Object: "contacts", Map: map[string]string{"email": "email"}, Note: &hubspot.NoteConfig{Body: "s"}}, "note.key"},
		{hubspot.TargetConfig{Object: "contacts", Map: map[string]string{"email": "email"}, Note: &hubspot.NoteConfig{Key: "k"}}, "note.body"},
		{hubspot.TargetConfig{Object: "p_orders", IDProperty: "ref", Map: map[string]string{"ref": "ref"}, Note: &hubspot.NoteConfig{Key: "k", Body: "s"}}, "note.type_id"},
	} {
		_, err := hubspot.New(tc.cfg, etl.BuildEnv{Connection: conn})
		var fe *etl.FieldError
		if !errors.As(err, &fe) || strings.Join(fe.Path, ".") != tc.path {
			t.Errorf("%s: err = %v, want a FieldError on it", tc.path, err)
		}
	}
	if _, err := hubspot.New(followCfg, etl.BuildEnv{Connection: conn}); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
