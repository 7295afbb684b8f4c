// Package ops is what the single-machine daemon and a River worker share
// to be operated: the Service interface the commands run either through,
// the HTTP endpoints /healthz, /readyz and /metrics, and the Prometheus
// metrics of runs.
package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Service runs a config's schedules: internal/daemon (one machine, its own
// scheduler and job leases, SQLite or PostgreSQL state) or internal/cluster
// (River workers on PostgreSQL). docs/scale-out.md says why there are two.
type Service interface {
	// Run schedules until stop is closed (the runs in flight finish: a
	// drain, then nil) or ctx ends (they are aborted).
	Run(ctx context.Context, stop <-chan struct{}) error
	// Handler serves at least /healthz, /readyz and /metrics (Mux).
	Handler() http.Handler
}

// Mux serves /healthz (the process answers), /readyz (ready says nil) and
// /metrics (reg, Prometheus text format).
func Mux(reg *prometheus.Registry, ready func(ctx context.Context) error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// Listen serves h on addr until the returned shutdown is called (it waits
// up to 5 s for requests in flight).
func Listen(addr string, h http.Handler, logger *slog.Logger) (shutdown func(context.Context), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server", "err", err)
		}
	}()
	logger.Info("http listening", "addr", ln.Addr().String())
	return func(ctx context.Context) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
