package daemon

import (
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nightjar-etl/nightjar/etl"
)

//go:embed status.html
var statusHTML string

var statusPage = template.Must(template.New("status").Parse(statusHTML))

// chartRuns is how many runs a job's chart shows.
const chartRuns = 30

// quarantineCap bounds the quarantined rows counted per job for the page.
const quarantineCap = 10_000

// Handler serves /healthz, /readyz, /metrics and the status page at /.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", d.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", d.status)
	return mux
}

// ready is 200 while the scheduler runs and the state store answers, 503
// before it starts and once it is stopping.
func (d *Daemon) ready(w http.ResponseWriter, r *http.Request) {
	if d.stopping.Load() {
		running := 0
		for _, js := range d.sched.Jobs() {
			if js.Running {
				running++
			}
		}
		http.Error(w, fmt.Sprintf("not ready: stopping, %d run(s) finishing", running), http.StatusServiceUnavailable)
		return
	}
	if !d.running.Load() {
		http.Error(w, "not ready: scheduler not started", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := d.opts.Store.Runs(ctx, "", 1); err != nil {
		http.Error(w, "not ready: state store: "+d.Config().Redact(err.Error()), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
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

// chart is a bar chart of rows written per run, oldest on the left.
type chart struct {
	Width, Height int
	Max           int64
	Bars          []bar
}

type bar struct {
	X, Y, W, H int
	Status     string
	Title      string
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
// the left; each bar's height is the rows written, relative to the most.
func rowsChart(runs []etl.Run) chart {
	const slot, barW, height = 8, 6, 48
	c := chart{Width: slot * chartRuns, Height: height}
	for _, r := range runs {
		c.Max = max(c.Max, r.Written)
	}
	for i := range runs {
		r := runs[len(runs)-1-i]
		h := 1 // a run that wrote nothing still shows
		if c.Max > 0 {
			h = max(h, int(r.Written*(height-2)/c.Max))
		}
		c.Bars = append(c.Bars, bar{
			X: i * slot, Y: height - h, W: barW, H: h, Status: string(r.Status),
			Title: fmt.Sprintf("run %d %s: %d rows written", r.ID, r.Status, r.Written),
		})
	}
	return c
}
