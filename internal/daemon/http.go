package daemon

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/internal/ops"
)

//go:embed layout.html status.html run.html
var pages embed.FS

var (
	statusPage  = template.Must(template.ParseFS(pages, "status.html", "layout.html"))
	runPageTmpl = template.Must(template.ParseFS(pages, "run.html", "layout.html"))
)

// chartRuns is how many runs a job's chart shows.
const chartRuns = 30

// quarantineCap bounds the quarantined rows counted per job for the page.
const quarantineCap = 10_000

// Handler serves /healthz, /readyz, /metrics and the status page at /.
func (d *Daemon) Handler() http.Handler {
	mux := ops.Mux(d.metrics.Registry(), d.ready)
	mux.HandleFunc("GET /{$}", d.status)
	mux.HandleFunc("GET /runs/{id}", d.runPage)
	return mux
}

// isStopping reports whether stop was asked of the running daemon.
func (d *Daemon) isStopping() bool {
	if d.stopping.Load() {
		return true
	}
	if !d.running.Load() {
		return false
	}
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

// ready is nil while the scheduler runs and the state store answers; it
// says why not before it starts and once it is stopping.
func (d *Daemon) ready(ctx context.Context) error {
	if d.isStopping() {
		running := 0
		for _, js := range d.sched.Jobs() {
			if js.Running {
				running++
			}
		}
		return fmt.Errorf("stopping, %d run(s) finishing", running)
	}
	if !d.running.Load() {
		return errors.New("scheduler not started")
	}
	if _, err := d.opts.Store.Runs(ctx, "", 1); err != nil {
		return errors.New("state store: " + d.Config().Redact(err.Error()))
	}
	return nil
}

type pageData struct {
	Generated string
	Config    string
	Jobs      []jobRow
	Runs      []runRow
}

type jobRow struct {
	Name, Description, Schedule, Next, State string
	Last                                     *runRow
	Quarantined                              string
	Chart                                    chart
}

type runRow struct {
	ID                                        int64
	Job, Trigger, Status, Started             string
	Duration, Error                           string
	Read, Written, Skipped, Rejected, Batches int64
}

// chart is a bar chart of rows written per run, oldest on the left, with
// a line of the runs' durations on a scale of its own.
type chart struct {
	Width, Height int
	Max           int64
	MaxDuration   string
	Bars          []bar
	// DurationLine is the polyline's points, "x,y x,y ...".
	DurationLine string
}

type bar struct {
	X, Y, W, H int
	Status     string
	Title      string
	RunID      int64
}

func (d *Daemon) status(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cfg := d.Config()
	now := d.opts.Clock.Now()
	state := map[string]string{}
	next := map[string]time.Time{}
	for _, js := range d.sched.Jobs() {
		switch {
		case js.Running:
			state[js.Name] = "running"
		case js.Watched:
			state[js.Name] = "watching"
		default:
			state[js.Name] = "idle"
		}
		next[js.Name] = js.Next
	}
	data := pageData{Generated: now.UTC().Format(time.RFC3339), Config: cfg.Path}
	for _, js := range cfg.Jobs {
		runs, err := d.opts.Store.Runs(ctx, js.Name, chartRuns)
		if err != nil {
			http.Error(w, "state store: "+cfg.Redact(err.Error()), http.StatusInternalServerError)
			return
		}
		row := jobRow{Name: js.Name, Description: js.Description, Schedule: js.Schedule, State: state[js.Name], Chart: rowsChart(runs)}
		if row.State == "" {
			row.State = "idle"
		}
		at, ok := next[js.Name]
		if !ok || at.IsZero() {
			at, _ = js.Next(now)
		}
		if !at.IsZero() {
			row.Next = at.UTC().Format(time.RFC3339)
		}
		if len(runs) > 0 {
			last := toRow(runs[0], cfg.Redact)
			row.Last = &last
		}
		q, err := d.opts.Store.Quarantined(ctx, js.Name, quarantineCap+1)
		if err != nil {
			http.Error(w, "state store: "+cfg.Redact(err.Error()), http.StatusInternalServerError)
			return
		}
		row.Quarantined = fmt.Sprint(len(q))
		if len(q) > quarantineCap {
			row.Quarantined = fmt.Sprintf("%d+", quarantineCap)
		}
		data.Jobs = append(data.Jobs, row)
	}
	runs, err := d.opts.Store.Runs(ctx, "", 20)
	if err != nil {
		http.Error(w, "state store: "+cfg.Redact(err.Error()), http.StatusInternalServerError)
		return
	}
	for _, run := range runs {
		data.Runs = append(data.Runs, toRow(run, cfg.Redact))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusPage.Execute(w, data); err != nil {
		d.log.Warn("render status page", "err", err)
	}
}

func toRow(r etl.Run, redact func(string) string) runRow {
	row := runRow{ID: r.ID, Job: r.Job, Trigger: r.Trigger, Status: string(r.Status),
		Started: r.StartedAt.UTC().Format(time.RFC3339), Error: redact(r.Error),
		Read: r.Read, Written: r.Written, Skipped: r.Skipped, Rejected: r.Rejected, Batches: r.Batches}
	if !r.EndedAt.IsZero() {
		row.Duration = r.EndedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
	}
	return row
}

// rowsChart draws runs (newest first, as the store lists them) oldest on
// the left; each bar's height is the rows written, relative to the most,
// and the line's height at the bar is the run's duration, relative to the
// longest.
func rowsChart(runs []etl.Run) chart {
	const slot, barW, height = 8, 6, 48
	c := chart{Width: slot * chartRuns, Height: height}
	var longest time.Duration
	for _, r := range runs {
		c.Max = max(c.Max, r.Written)
		longest = max(longest, runDuration(r))
	}
	c.MaxDuration = longest.Round(time.Millisecond).String()
	var points []string
	for i := range runs {
		r := runs[len(runs)-1-i]
		h := 1 // a run that wrote nothing still shows
		if c.Max > 0 {
			h = max(h, int(r.Written*(height-2)/c.Max))
		}
		took := runDuration(r)
		c.Bars = append(c.Bars, bar{
			X: i * slot, Y: height - h, W: barW, H: h, Status: string(r.Status), RunID: r.ID,
			Title: fmt.Sprintf("run %d %s: %d rows written in %s", r.ID, r.Status, r.Written, took.Round(time.Millisecond)),
		})
		y := height - 1
		if longest > 0 {
			y = height - 1 - int(int64(took)*(height-2)/int64(longest))
		}
		points = append(points, fmt.Sprintf("%d,%d", i*slot+barW/2, y))
	}
	c.DurationLine = strings.Join(points, " ")
	return c
}

// runDuration is how long a run took, or has taken so far (0 for a run
// without an end: it is running or was interrupted).
func runDuration(r etl.Run) time.Duration {
	if r.EndedAt.IsZero() {
		return 0
	}
	return r.EndedAt.Sub(r.StartedAt)
}

// quarantinePage is how many quarantined rows a run's page shows at once.
const quarantinePage = 50

// runStore is what a run's page needs of the state store, beyond
// etl.Store (sqlitestore.Store has it).
type runStore interface {
	Run(ctx context.Context, id int64) (etl.Run, bool, error)
	RunQuarantine(ctx context.Context, runID int64, offset, limit int) ([]etl.QuarantineRecord, int, error)
}

type runPageData struct {
	Generated, Config string
	Run               runRow
	Refresh           bool // the run is going: reload the page
	Quarantine        []quarantineRow
	Total             int
	From, To          int
	Page, Pages       int
	Prev, Next        int // 0 when there is none
}

type quarantineRow struct {
	ID                                 int64
	Step, Origin, Field, Value, Reason string
	Row                                string
}

// runPage shows one run: its counters and error, and the rows it
// quarantined with their reasons and origins, quarantinePage at a time
// (?page=N, 1-based).
func (d *Daemon) runPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cfg := d.Config()
	st, ok := d.opts.Store.(runStore)
	if !ok {
		http.Error(w, "this state store has no run pages", http.StatusNotImplemented)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, "no such run: "+r.PathValue("id"), http.StatusNotFound)
		return
	}
	run, found, err := st.Run(ctx, id)
	if err != nil {
		http.Error(w, "state store: "+cfg.Redact(err.Error()), http.StatusInternalServerError)
		return
	}
	if !found {
		http.Error(w, fmt.Sprintf("no run %d", id), http.StatusNotFound)
		return
	}
	page := 1
	if p, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && p > 1 {
		page = p
	}
	recs, total, err := st.RunQuarantine(ctx, id, (page-1)*quarantinePage, quarantinePage)
	if err != nil {
		http.Error(w, "state store: "+cfg.Redact(err.Error()), http.StatusInternalServerError)
		return
	}
	data := runPageData{
		Generated: d.opts.Clock.Now().UTC().Format(time.RFC3339), Config: cfg.Path,
		Run: toRow(run, cfg.Redact), Refresh: run.EndedAt.IsZero() && run.Status == etl.RunRunning,
		Total: total, Page: page, Pages: max(1, (total+quarantinePage-1)/quarantinePage),
	}
	for _, q := range recs {
		data.Quarantine = append(data.Quarantine, quarantineRow{ID: q.ID, Step: q.Step, Origin: q.Origin,
			Field: q.Field, Value: cfg.Redact(q.Value), Reason: cfg.Redact(q.Reason), Row: cfg.Redact(q.RowJSON)})
	}
	if len(recs) > 0 {
		data.From, data.To = (page-1)*quarantinePage+1, (page-1)*quarantinePage+len(recs)
	}
	if page > 1 {
		data.Prev = page - 1
	}
	if page < data.Pages {
		data.Next = page + 1
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := runPageTmpl.Execute(w, data); err != nil {
		d.log.Warn("render run page", "err", err)
	}
}
