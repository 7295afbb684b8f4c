package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's shell blocks are run by TestREADME, so that a command that
// stops working fails CI. Every ```sh block runs, in order, in one fresh
// copy of the repository, unless an HTML comment on the line before it
// says otherwise:
//
//	<!-- readme-test: skip: REASON -->   never run (a server, the whole suite)
//	<!-- readme-test: needs CMD -->      run only when CMD is on PATH
//
// To stay fast the blocks use one nightjar built for the test: `go run
// ./cmd/nightjar` runs it and `go install ./cmd/nightjar` is left out.
const (
	readmeMarker       = "<!-- readme-test: "
	readmeBlockTimeout = 60 * time.Second
)

// readmeBlock is one ```sh block of the README.
type readmeBlock struct {
	Line   int    // of the opening fence, 1-based
	Marker string // the readme-test comment before it, without its delimiters
	Script string
}

// readmeBlocks lists the ```sh blocks of a Markdown text.
func readmeBlocks(text string) []readmeBlock {
	var blocks []readmeBlock
	var cur *readmeBlock
	prev := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh":
			cur = &readmeBlock{Line: n}
			if m, ok := strings.CutPrefix(strings.TrimSpace(prev), readmeMarker); ok {
				cur.Marker = strings.TrimSpace(strings.TrimSuffix(m, "-->"))
			}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.Script += line + "\n"
		}
		prev = line
	}
	return blocks
}

// skipReason says why a block is not run here, or "" to run it.
func (b readmeBlock) skipReason() string {
	switch {
	case b.Marker == "":
		return ""
	case strings.HasPrefix(b.Marker, "skip"):
		return b.Marker
	case strings.HasPrefix(b.Marker, "needs "):
		for _, cmd := range strings.Fields(strings.TrimPrefix(b.Marker, "needs ")) {
			if _, err := exec.LookPath(cmd); err != nil {
				return cmd + " is not on PATH"
			}
		}
		return ""
	}
	return "unknown marker " + b.Marker + " (want skip: REASON or needs CMD)"
}

var goInstallLine = regexp.MustCompile(`(?m)^go install \./cmd/nightjar\s*$`)

// readmeScript is a block as the test runs it, with the prebuilt binary.
func readmeScript(script string) string {
	script = goInstallLine.ReplaceAllString(script, ": go install skipped, the PATH of the test has nightjar")
	return strings.ReplaceAll(script, "go run ./cmd/nightjar ", "nightjar ")
}

// readmeEnv runs shell scripts the way a reader pastes them: bash, with
// the test's nightjar first on PATH and a HOME of its own.
type readmeEnv struct {
	t    *testing.T
	path string // PATH
	home string
}

func newReadmeEnv(t *testing.T) *readmeEnv {
	bin := nightjarBinary(t)
	binDir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(binDir, "nightjar")); err != nil {
		t.Fatal(err)
	}
	return &readmeEnv{t: t, path: binDir + string(os.PathListSeparator) + os.Getenv("PATH"), home: t.TempDir()}
}

// run runs script with bash -e in dir, within readmeBlockTimeout, and
// returns its combined output.
func (e *readmeEnv) run(dir, script string) (string, error) {
	out, _, err := e.runIn(dir, script)
	return out, err
}

// runIn is run that also returns the folder the script ended in (a block
// may cd), where the commands it printed run as pasted.
func (e *readmeEnv) runIn(dir, script string) (out, endDir string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), readmeBlockTimeout)
	defer cancel()
	pwdFile := filepath.Join(e.t.TempDir(), "pwd")
	script = "trap 'pwd > " + pwdFile + "' EXIT\n" + script
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + e.path, "HOME=" + e.home, "TMPDIR=" + os.TempDir(),
		"GOCACHE=" + os.Getenv("GOCACHE"), "GOPATH=" + os.Getenv("GOPATH"), "LANG=C.UTF-8"}
	// The script's children (nightjar) go with it at the timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = errors.New("timed out after " + readmeBlockTimeout.String())
	}
	endDir = dir
	if pwd, rerr := os.ReadFile(pwdFile); rerr == nil && len(bytes.TrimSpace(pwd)) > 0 {
		endDir = string(bytes.TrimSpace(pwd))
	}
	return buf.String(), endDir, err
}

// hintLine finds the commands nightjar prints for the user to run next.
var hintLine = regexp.MustCompile(`(?m)(?:see them with: |see why with |^  )(nightjar [^;\n]*)`)

// runHints runs every nightjar command that out suggests, from dir.
func (e *readmeEnv) runHints(where, dir, out string) {
	for _, m := range hintLine.FindAllStringSubmatch(out, -1) {
		if strings.Contains(m[1], " DIR") {
			continue // a placeholder: nightjar init DIR
		}
		if hout, err := e.run(dir, m[1]); err != nil {
			e.t.Errorf("%s suggests %q, which fails: %v\n%s", where, m[1], err, hout)
		}
	}
}

// copyRepo copies the repository's files (as git lists them: tracked and
// untracked but not ignored) to dst: a fresh clone of the working tree,
// without the example's outputs or state.
func copyRepo(t *testing.T, repo, dst string) {
	t.Helper()
	var files []string
	if out, err := exec.Command("git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output(); err == nil {
		files = strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	} else {
		// Not a git checkout (an exported tree): every file but the
		// example's outputs and state.
		err := filepath.WalkDir(repo, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == ".git" || d.Name() == ".nightjar" || d.Name() == "out") {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() {
				rel, _ := filepath.Rel(repo, p)
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range files {
		data, err := os.ReadFile(filepath.Join(repo, rel))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestREADME runs the README's shell blocks in order in a fresh copy of
// the repository, and every command the output suggests (the quarantine
// hint, say); then `nightjar init`'s next steps and the commands the new
// project's nightjar.yaml tells to run.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the README's commands")
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	env := newReadmeEnv(t)
	clone := filepath.Join(t.TempDir(), "nightjar")
	copyRepo(t, repo, clone)

	blocks := readmeBlocks(string(text))
	ran := 0
	for _, b := range blocks {
		if reason := b.skipReason(); reason != "" {
			t.Logf("README.md:%d: not run: %s", b.Line, reason)
			continue
		}
		ran++
		out, endDir, err := env.runIn(clone, readmeScript(b.Script))
		if err != nil {
			t.Errorf("README.md:%d: %v\n--- block ---\n%s--- output ---\n%s", b.Line, err, b.Script, out)
			continue
		}
		env.runHints("README.md:"+strconv.Itoa(b.Line), endDir, out)
	}
	if ran < 3 {
		t.Errorf("ran %d README blocks of %d, want the quick start's at least", ran, len(blocks))
	}

	// A new project: init's next steps, run as printed from where init
	// was run, then the commands its nightjar.yaml names, from its folder.
	out, err := env.run(env.home, "nightjar init first-project")
	if err != nil {
		t.Fatalf("nightjar init: %v\n%s", err, out)
	}
	env.runHints("nightjar init", env.home, out)
	project := filepath.Join(env.home, "first-project")
	cfg, err := os.ReadFile(filepath.Join(project, "nightjar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile(`(?m)^#.*?(?:^#   |:\s+)(nightjar [^\n]*)$`).FindAllStringSubmatch(string(cfg), -1)
	if len(named) < 3 {
		t.Errorf("the project's nightjar.yaml names %d commands, want its run instructions:\n%.800s", len(named), cfg)
	}
	for _, m := range named {
		if out, err := env.run(project, m[1]); err != nil {
			t.Errorf("the project's nightjar.yaml says to run %q, which fails: %v\n%s", m[1], err, out)
		}
	}
}
