// Package daemon is what `nightjar daemon` runs: the jobs/schedule
// Scheduler wired to the embedded etl.Runner (the Launcher seat of DESIGN
// §8), watched folders, Prometheus metrics, an HTTP server with /healthz, /readyz,
// /metrics and a server-rendered status page, config reloads, and failure
// notifications to a Slack-compatible webhook.
//
// It imports etl, jobs and connectors/files (for its folder watcher); no
// other connector and no step (cmd links them in). Only cmd/nightjar
// imports it.
package daemon
