package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	_ "github.com/nightjar-etl/nightjar/connectors/all"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
	"github.com/nightjar-etl/nightjar/jobs/config"
	_ "github.com/nightjar-etl/nightjar/transforms"
)

// Exit codes, DESIGN §5.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitRejected = 3
)

// exitError carries an exit code up to run; its message, if any, has been
// printed or is printed by run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// app is the state shared by the commands of one invocation.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lines          *terminalLines // stderr shared by logs and the progress bar, on a terminal
	configPath     string
	prog           string // how to invoke nightjar in printed hints; see program
	cfg            *config.Config
	logger         *slog.Logger
	// clock is the one clock of the process (etl.SystemClock), handed to
	// the runner, the daemon and the display of timings.
	clock etl.Clock
}

// progName is how this process was invoked, for hints (main sets it;
// tests keep "nightjar").
var progName = "nightjar"

// run is main without the process: it parses args, runs the command and
// returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, prog: progName, clock: etl.SystemClock{}}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "nightjar:", a.redact(ee.err.Error()))
		}
		return ee.code
	}
	// Cobra's own errors: unknown command or flag, wrong argument count.
	fmt.Fprintln(stderr, "nightjar:", a.redact(err.Error()))
	if cmd != nil {
		sub := strings.TrimSpace(strings.TrimPrefix(cmd.CommandPath(), root.Name()))
		fmt.Fprintf(stderr, "see: %s --help\n", strings.TrimSpace(a.program()+" "+sub))
	}
	return exitUsage
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "nightjar",
		Short:         "Batch ETL sync for conversation logs and leads",
		Long:          "nightjar moves chatbot conversation logs and leads from files, databases and APIs\ninto CRMs and warehouses, on a schedule, checkpointed so nothing is lost or loaded twice.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Version = version()
	root.SetVersionTemplate("{{.Version}}\n")
	// -c belongs to the commands that read a config (init writes one and
	// completion reads none: a -c in their help would do nothing).
	for _, cmd := range []*cobra.Command{
		a.validateCommand(),
		a.runCommand(),
		a.statusCommand(),
		a.historyCommand(),
		a.stateCommand(),
		a.quarantineCommand(),
		a.previewCommand(),
		a.testCommand(),
		a.daemonCommand(),
		a.workerCommand(),
	} {
		a.configFlag(cmd)
		root.AddCommand(cmd)
	}
	root.AddCommand(a.initCommand())
	// Before the command (nightjar -c FILE run) -c is still read, as it
	// always was, but not shown: scripts may put it there.
	a.configFlag(root)
	_ = root.PersistentFlags().MarkHidden("config")
	return root
}

// defaultConfigPath is the config read without -c.
const defaultConfigPath = "nightjar.yaml"

// configFlag gives cmd (and its subcommands) the -c flag.
func (a *app) configFlag(cmd *cobra.Command) {
	def := os.Getenv("NIGHTJAR_CONFIG")
	if def == "" {
		def = defaultConfigPath
	}
	cmd.PersistentFlags().StringVarP(&a.configPath, "config", "c", def, "config file (env NIGHTJAR_CONFIG)")
}

// command is a nightjar command line to print as a hint, with the -c FILE
// of this invocation when it is not the default, so that it runs as pasted
// from where the user is.
func (a *app) command(args ...string) string {
	parts := []string{a.program()}
	if len(args) > 0 {
		parts = append(parts, args[0])
		args = args[1:]
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && args[0] != "" && isSubcommandGroup(parts[1]) {
		parts = append(parts, args[0])
		args = args[1:]
	}
	if len(parts) > 1 && parts[1] != "init" && a.configPath != "" && a.configPath != defaultConfigPath {
		parts = append(parts, "-c", shellQuote(a.configPath))
	}
	for _, arg := range args {
		parts = append(parts, shellQuote(arg))
	}
	return strings.Join(parts, " ")
}

// isSubcommandGroup reports whether a command takes a subcommand first
// (quarantine list, state show), after which -c reads best.
func isSubcommandGroup(name string) bool { return name == "quarantine" || name == "state" }

// program is how to invoke this nightjar again: "nightjar", the path it
// was started by when that is not the nightjar on PATH, or "go run
// ./cmd/nightjar" under go run from the repository root.
func (a *app) program() string {
	if a.prog == "" {
		return "nightjar"
	}
	return a.prog
}

// invokedAs works out program() from the process's argv[0].
func invokedAs(argv0 string) string {
	if strings.Contains(argv0, string(filepath.Separator)+"go-build") {
		// go run: a temporary binary; the same go run works again.
		if _, err := os.Stat(filepath.Join("cmd", "nightjar", "main.go")); err == nil {
			return "go run ./cmd/nightjar"
		}
		return "go run github.com/nightjar-etl/nightjar/cmd/nightjar@latest"
	}
	if !strings.ContainsRune(argv0, filepath.Separator) {
		return "nightjar" // found on PATH
	}
	if onPath, err := exec.LookPath("nightjar"); err == nil {
		a, errA := os.Stat(onPath)
		b, errB := os.Stat(argv0)
		if errA == nil && errB == nil && os.SameFile(a, b) {
			return "nightjar"
		}
	}
	return shellQuote(argv0)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// version is the module version and VCS revision of this build.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "nightjar (unknown version)"
	}
	v := "nightjar " + info.Main.Version
	var rev, when, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += fmt.Sprintf(" (commit %s %s%s)", rev, when, dirty)
	}
	return v + ", " + info.GoVersion
}

// redact hides secrets from the environment in s, once a config is loaded.
func (a *app) redact(s string) string {
	if a.cfg == nil {
		return s
	}
	return a.cfg.Redact(s)
}

// load reads and validates the config; errors exit 2.
func (a *app) load() (*config.Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	if _, err := os.Stat(a.configPath); errors.Is(err, fs.ErrNotExist) {
		return nil, usageErr("no config at %s: give one with -c FILE (or NIGHTJAR_CONFIG), or start a project with: %s",
			a.configPath, a.command("init", "DIR"))
	}
	cfg, err := config.Load(a.configPath)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(a.stderr, e.Error())
			}
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s: %d error(s)", a.configPath, len(errs))}
		}
		return nil, &exitError{code: exitUsage, err: err}
	}
	a.cfg = cfg
	a.logger = newLogger(a.stderrLines(), isTerminal(a.stderr), cfg.Redact)
	return cfg, nil
}

// openStore opens the config's state store: the SQLite file, or the
// PostgreSQL schema `state:` names.
func (a *app) openStore(ctx context.Context) (etl.Store, error) {
	cfg, err := a.load()
	if err != nil {
		return nil, err
	}
	var st etl.Store
	if cfg.StateType == config.StatePostgres {
		st, err = pgstore.Open(ctx, cfg.State, cfg.StateSchema)
	} else {
		st, err = sqlitestore.Open(ctx, cfg.State)
	}
	if err != nil {
		return nil, &exitError{code: exitFailed, err: errors.New(cfg.Redact(err.Error()))}
	}
	return st, nil
}

// jobArgs resolves job names, or every job with all.
func (a *app) jobArgs(cfg *config.Config, names []string, all bool) ([]string, error) {
	if all {
		if len(names) > 0 {
			return nil, usageErr("give job names or --all, not both")
		}
		return cfg.JobNames(), nil
	}
	if len(names) == 0 {
		return nil, usageErr("name a job (%s) or use --all", strings.Join(cfg.JobNames(), ", "))
	}
	for _, n := range names {
		if _, ok := cfg.Job(n); !ok {
			if s := config.Suggest(n, cfg.JobNames()); s != "" {
				return nil, usageErr("unknown job %q: did you mean %s? (jobs: %s)", n, s, strings.Join(cfg.JobNames(), ", "))
			}
			return nil, usageErr("unknown job %q (jobs: %s)", n, strings.Join(cfg.JobNames(), ", "))
		}
	}
	return names, nil
}

// interruptible handles SIGINT and SIGTERM for a command that runs jobs:
// the first signal closes stop (finish the batches in flight, checkpoint,
// end), and the returned context is cancelled at a second signal or grace
// after the first. release undoes the signal handling.
func (a *app) interruptible(ctx context.Context, grace time.Duration) (_ context.Context, stop <-chan struct{}, release func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(ctx)
	stopCh := make(chan struct{})
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(a.stderr, "nightjar: %s: finishing the batches in flight (again to abort, or wait %s)\n", sig, grace)
			close(stopCh)
		case <-done:
			return
		}
		timer := a.clock.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-sigs:
		case <-timer.C():
		case <-done:
			return
		}
		cancel()
	}()
	return ctx, stopCh, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// stderrLines is stderr for log lines: on a terminal, a writer that
// takes the progress bar off the line before each log line.
func (a *app) stderrLines() io.Writer {
	if !isTerminal(a.stderr) {
		return a.stderr
	}
	if a.lines == nil {
		a.lines = &terminalLines{w: a.stderr}
	}
	return a.lines
}

// terminalLines serialises a terminal's log lines and its progress bar,
// which redraws its line with "\r": a log line first erases the bar
// ("\r" and erase-line), then the bar is drawn again below it at its next
// update.
type terminalLines struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes whole log lines.
func (t *terminalLines) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := io.WriteString(t.w, "\r\x1b[K"); err != nil {
		return 0, err
	}
	return t.w.Write(p)
}

// bar is the writer of the progress bar.
func (t *terminalLines) bar() io.Writer { return barWriter{t} }

type barWriter struct{ t *terminalLines }

func (b barWriter) Write(p []byte) (int, error) {
	b.t.mu.Lock()
	defer b.t.mu.Unlock()
	return b.t.w.Write(p)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newLogger logs text on a terminal and JSON otherwise, with secrets
// redacted from messages and string attributes.
func newLogger(w io.Writer, text bool, redact func(string) string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if os.Getenv("NIGHTJAR_DEBUG") != "" {
		opts.Level = slog.LevelDebug
	}
	var h slog.Handler
	if text {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(&redactHandler{Handler: h, redact: redact})
}

// redactHandler removes secrets from every record before it is written.
type redactHandler struct {
	slog.Handler
	redact func(string) string
}

func (h *redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.redact(r.Message), r.PC)
	r.Attrs(func(at slog.Attr) bool {
		out.AddAttrs(h.redactAttr(at))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h *redactHandler) redactAttr(at slog.Attr) slog.Attr {
	v := at.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(at.Key, h.redact(v.String()))
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(at.Key, h.redact(err.Error()))
		}
		return slog.String(at.Key, h.redact(fmt.Sprint(v.Any())))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = h.redactAttr(g)
		}
		return slog.Group(at.Key, out...)
	}
	return slog.Attr{Key: at.Key, Value: v}
}

func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, at := range attrs {
		red[i] = h.redactAttr(at)
	}
	return &redactHandler{Handler: h.Handler.WithAttrs(red), redact: h.redact}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{Handler: h.Handler.WithGroup(name), redact: h.redact}
}
