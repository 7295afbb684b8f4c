package hubspot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/hubspot"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

const testToken = "pat-na1-5ecret-t0ken-0000"

var epoch = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)

// memFingerprints is an in-memory fingerprint store.
type memFingerprints struct {
	mu sync.Mutex
	m  map[string]string
}

func (f *memFingerprints) Fingerprints(_ context.Context, target string, ids []string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, id := range ids {
		if d, ok := f.m[target+"\x00"+id]; ok {
			out[id] = d
		}
	}
	return out, nil
}

func (f *memFingerprints) SaveFingerprints(_ context.Context, target string, digests map[string]string, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]string{}
	}
	for id, d := range digests {
		f.m[target+"\x00"+id] = d
	}
	return nil
}

func connection(baseURL string) *etl.Connection {
	cfg := hubspot.DefaultConnConfig()
	cfg.BaseURL, cfg.Token = baseURL, testToken
	return &etl.Connection{Name: "hubspot", Type: "hubspot", Config: cfg}
}

// leadBatch builds n leads lead0@example.com… with a first name and score.
func leadBatch(n int, pos string) *etl.Batch {
	b := etl.NewBatch(etl.MustSchema(
		etl.Field{Name: "email", Type: etl.TypeString},
		etl.Field{Name: "first_name", Type: etl.TypeString},
		etl.Field{Name: "score", Type: etl.TypeInt},
	), n)
	for i := range n {
		b.Cols[0].AppendString(fmt.Sprintf("Lead%d@Example.com", i))
		b.Cols[1].AppendString(fmt.Sprintf("Ada %d", i))
		b.Cols[2].AppendInt(int64(i % 100))
		b.Origins = append(b.Origins, etl.Origin{File: "leads.csv", Line: int64(i + 2)})
	}
	b.Position = etl.Position(pos)
	return b
}

var contactsCfg = hubspot.TargetConfig{
	Object: "contacts", IDProperty: "email",
	Map: map[string]string{"email": "email", "firstname": "first_name", "lead_score": "score"},
}

type harness struct {
	em     *emulator
	target *hubspot.Target
	clock  *etltest.Clock
	fp     *memFingerprints
	logs   *httpapitest.LogBuffer
}

func setup(t *testing.T, cfg hubspot.TargetConfig, tune func(*emulator)) *harness {
	t.Helper()
	h := &harness{em: newEmulator(t, testToken), clock: etltest.NewClock(epoch), fp: &memFingerprints{}, logs: &httpapitest.LogBuffer{}}
	h.em.now = h.clock.Now
	if tune != nil {
		tune(h.em)
	}
	tg, err := hubspot.New(cfg, etl.BuildEnv{Connection: connection(h.em.URL)})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Open(context.Background(), etl.TargetEnv{Job: "leads", Name: "targets[0] crm contacts",
		Clock: h.clock, Logger: h.logs.Logger(), Fingerprints: h.fp}); err != nil {
		t.Fatal(err)
	}
	h.target = tg
	return h
}

func TestUpsertSplitsIntoBatchesOf100(t *testing.T) {
	t.Parallel()
	h := setup(t, contactsCfg, nil)
	if err := h.target.Write(context.Background(), leadBatch(250, `"p1"`)); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, b := range h.em.bodies {
		sizes = append(sizes, strings.Count(string(b), `"idProperty"`))
	}
	if diff := cmp.Diff([]int{100, 100, 50}, sizes); diff != "" {
		t.Errorf("inputs per request (-want +got):\n%s", diff)
	}
	if h.em.inputs != 250 || len(h.em.records) != 250 {
		t.Errorf("emulator upserted %d inputs, holds %d records; want 250", h.em.inputs, len(h.em.records))
	}
	got := h.em.records["contacts/lead7@example.com"]
	want := map[string]string{"email": "Lead7@Example.com", "firstname": "Ada 7", "lead_score": "7"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if s := h.target.Stats(); s.Sent != 250 || s.Rejected != 0 || s.Requests != 3 {
		t.Errorf("stats = %+v", s)
	}
}

func TestEmulatorRefuses101Inputs(t *testing.T) {
	t.Parallel()
	// The emulator must enforce the limit for the test above to mean
	// anything: a target sending 101 inputs gets a 400, which it takes
	// for a bad input and bisects, so every input still arrives, but in
	// more requests.
	cfg := contactsCfg
	cfg.BatchSize = 100
	h := setup(t, cfg, nil)
	_, err := hubspot.New(hubspot.TargetConfig{Object: "contacts", Map: cfg.Map, BatchSize: 101}, etl.BuildEnv{Connection: connection(h.em.URL)})
	var fe *etl.FieldError
	if !errors.As(err, &fe) || fe.Path[0] != "batch_size" {
		t.Fatalf("batch_size 101: err = %v, want a FieldError on batch_size", err)
	}
	client, err := httpapi.New(httpapi.Options{BaseURL: h.em.URL, Auth: httpapi.BearerToken(testToken)})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(`{"inputs":[`)
	for i := range 101 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"x%d@example.com","idProperty":"email","properties":{"email":"x%d@example.com"}}`, i, i)
	}
	b.WriteString(`]}`)
	_, err = client.Do(context.Background(), httpapi.Request{Method: "POST", Path: "/crm/v3/objects/contacts/batch/upsert", Body: []byte(b.String())})
	var se *httpapi.StatusError
	if !errors.As(err, &se) || se.Status != 400 || !strings.Contains(se.Body, "limit is 100") {
		t.Fatalf("101 inputs: err = %v, want HTTP 400 naming the limit", err)
	}
}

func TestThrottledRequestsHonourRetryAfter(t *testing.T) {
	t.Parallel()
	h := setup(t, contactsCfg, func(e *emulator) { e.throttleFirst, e.retryAfter = 3, "7" })
	if err := h.target.Write(context.Background(), leadBatch(150, `"p1"`)); err != nil {
		t.Fatal(err)
	}
	if h.em.inputs != 150 || len(h.em.records) != 150 {
		t.Errorf("upserted %d inputs, %d records; want 150 each", h.em.inputs, len(h.em.records))
	}
	// Three 429s, each asking for 7 s: at least 21 s of (fake) waiting.
	if slept := h.clock.Slept(); slept < 21*time.Second || slept > 30*time.Second {
		t.Errorf("slept %v, want about 21s (3 × Retry-After 7)", slept)
	}
	if diff := cmp.Diff([]int{429, 429, 429, 200, 200}, h.em.statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

func TestServiceUnavailableBurstIsRetried(t *testing.T) {
	t.Parallel()
	h := setup(t, contactsCfg, func(e *emulator) { e.failFirst = 4 })
	if err := h.target.Write(context.Background(), leadBatch(120, `"p1"`)); err != nil {
		t.Fatal(err)
	}
	if h.em.inputs != 120 || h.em.requests != 6 {
		t.Errorf("inputs %d requests %d; want 120 inputs in 4 failed + 2 good requests", h.em.inputs, h.em.requests)
	}
	if h.clock.Slept() <= 0 {
		t.Error("no backoff between retries")
	}
}

func TestServiceUnavailableBeyondBudgetFails(t *testing.T) {
	t.Parallel()
	h := setup(t, contactsCfg, func(e *emulator) { e.failFirst = 1000 })
	err := h.target.Write(context.Background(), leadBatch(10, `"p1"`))
	if !errors.Is(err, httpapi.ErrRetriesExhausted) {
		t.Fatalf("err = %v, want ErrRetriesExhausted", err)
	}
	if h.em.requests != 7 {
		t.Errorf("requests = %d, want 1 + 6 retries", h.em.requests)
	}
}

func TestDailyLimitStopsAtOnce(t *testing.T) {
	t.Parallel()
	h := setup(t, contactsCfg, func(e *emulator) { e.daily = true })
	err := h.target.Write(context.Background(), leadBatch(10, `"p1"`))
	if !errors.Is(err, httpapi.ErrDailyLimit) {
		t.Fatalf("err = %v, want ErrDailyLimit", err)
	}
	if h.em.requests != 1 || h.clock.Slept() > time.Second {
		t.Errorf("requests %d, slept %v: a daily limit must not be retried", h.em.requests, h.clock.Slept())
	}
}

func TestPerRecordErrorsAreQuarantined(t *testing.T) {
	t.Parallel()
	h := setup(t, contactsCfg, func(e *emulator) {
		e.invalid = map[string]string{"lead3@example.com": `Property "email" is invalid`, "lead140@example.com": "Contact is archived"}
		e.silent = map[string]bool{"lead5@example.com": true}
	})
	b := leadBatch(150, `"p1"`)
	if err := h.target.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	rejects := h.target.TakeRejects()
	type rej struct {
		Line   int64
		Value  string
		Reason string
	}
	var got []rej
	for _, r := range rejects {
		got = append(got, rej{r.Origin.Line, r.Value, r.Reason})
		if r.Step != "targets[0] crm contacts" || r.Field != "email" || !strings.Contains(string(r.Row), `"first_name"`) {
			t.Errorf("reject %+v lacks step, field or row", r)
		}
	}
	want := []rej{
		{5, "lead3@example.com", `HubSpot: VALIDATION_ERROR: Property "email" is invalid`},
		{7, "lead5@example.com", "HubSpot answered HTTP 207 without a result for this input"},
		{142, "lead140@example.com", "HubSpot: VALIDATION_ERROR: Contact is archived"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
	if len(h.target.TakeRejects()) != 0 {
		t.Error("TakeRejects did not forget")
	}
	if s := h.target.Stats(); s.Sent != 147 || s.Rejected != 3 {
		t.Errorf("stats = %+v, want 147 sent, 3 rejected", s)
	}
	// Only delivered records are fingerprinted: the refused ones are
	// sent again next time.
	if len(h.fp.m) != 147 {
		t.Errorf("%d fingerprints saved, want 147", len(h.fp.m))
	}
	if b.Len() != 150 || len(b.Rejects) != 0 {
		t.Error("the target changed the shared batch")
	}
}

func TestBadRequestIsBisectedToTheBadInput(t *testing.T) {
	t.Parallel()
	h := setup(t, contactsCfg, func(e *emulator) { e.badProperty = map[string]bool{"lead42@example.com": true} })
	if err := h.target.Write(context.Background(), leadBatch(100, `"p1"`)); err != nil {
		t.Fatal(err)
	}
	rejects := h.target.TakeRejects()
	if len(rejects) != 1 || rejects[0].Origin.Line != 44 || !strings.Contains(rejects[0].Reason, `"lead_score" value "abc" is not a number`) {
		t.Fatalf("rejects = %+v, want lead42 with HubSpot's message", rejects)
	}
	if h.em.inputs != 99 {
		t.Errorf("upserted %d, want 99", h.em.inputs)
	}
	if h.em.requests > 16 {
		t.Errorf("%d requests to isolate one bad input out of 100", h.em.requests)
	}
}

func TestUnchangedRecordsAreNotSentAgain(t *testing.T) {
	t.Parallel()
	h := setup(t, contactsCfg, nil)
	ctx := context.Background()
	if err := h.target.Write(ctx, leadBatch(30, `"p1"`)); err != nil {
		t.Fatal(err)
	}
	if err := h.target.Write(ctx, leadBatch(30, `"p2"`)); err != nil {
		t.Fatal(err)
	}
	if h.em.inputs != 30 {
		t.Fatalf("second write of the same leads sent %d inputs in total, want 30", h.em.inputs)
	}
	b := leadBatch(30, `"p3"`)
	b.Cols[1].Str[4] = "Grace"
	if err := h.target.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if h.em.inputs != 31 || h.em.records["contacts/lead4@example.com"]["firstname"] != "Grace" {
		t.Errorf("after changing one lead: %d inputs in total, want 31", h.em.inputs)
	}
	if s := h.target.Stats(); s.Unchanged != 59 || s.Sent != 31 {
		t.Errorf("stats = %+v", s)
	}
}

func TestDuplicateIDsInABatchSendTheLastRow(t *testing.T) {
	t.Parallel()
	h := setup(t, contactsCfg, nil)
	b := leadBatch(3, `"p1"`)
	b.Cols[0].Str[2] = "lead0@example.com"
	b.Cols[1].Str[2] = "Last"
	if err := h.target.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if h.em.inputs != 2 || h.em.records["contacts/lead0@example.com"]["firstname"] != "Last" {
		t.Errorf("inputs %d, lead0 = %v", h.em.inputs, h.em.records["contacts/lead0@example.com"])
	}
}

func TestTokenNeverLeaks(t *testing.T) {
	t.Parallel()
	var errs []string
	// A wrong token: the emulator echoes the credential it got.
	em := newEmulator(t, "the-right-token")
	clock := etltest.NewClock(epoch)
	logs := &httpapitest.LogBuffer{}
	conn := connection(em.URL)
	tg, err := hubspot.New(contactsCfg, etl.BuildEnv{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Open(context.Background(), etl.TargetEnv{Name: "t", Clock: clock, Logger: logs.Logger()}); err != nil {
		t.Fatal(err)
	}
	err = tg.Write(context.Background(), leadBatch(3, `"p"`))
	if err == nil {
		t.Fatal("a wrong token was accepted")
	}
	if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("err = %v, want the 401 with the echoed token redacted", err)
	}
	errs = append(errs, err.Error())
	if em.authSeen[0] != "Bearer "+testToken {
		t.Fatalf("the emulator did not see the token: %q", em.authSeen[0])
	}

	// Retries, per-record rejects and the daily limit, all logged at debug.
	h := setup(t, contactsCfg, func(e *emulator) {
		e.failFirst, e.invalid = 2, map[string]string{"lead1@example.com": "bad token " + testToken}
	})
	if err := h.target.Write(context.Background(), leadBatch(5, `"p"`)); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.target.TakeRejects() {
		errs = append(errs, r.Reason, r.Value, string(r.Row))
	}
	h.em.daily = true
	if err := h.target.Write(context.Background(), leadBatch(8, `"p"`)); err != nil {
		errs = append(errs, err.Error())
	}
	h.target.Commit(context.Background())
	all := strings.Join(errs, "\n") + logs.String() + h.logs.String()
	if strings.Contains(all, testToken) {
		t.Errorf("the token appears in errors, rejects or logs:\n%s", all)
	}
	if !strings.Contains(h.logs.String(), "http retry") || !strings.Contains(all, "bad token [redacted]") {
		t.Errorf("the test did not exercise retries and rejects:\n%s", all)
	}
	// The connection's config as validate would report it.
	if err := hubspot.ValidateConnection(&hubspot.ConnConfig{Settings: httpapi.Settings{BaseURL: "ftp://" + testToken}}, ""); err == nil || strings.Contains(err.Error(), testToken) {
		t.Errorf("validate: %v", err)
	}
}
