package httpapitest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// PrismInstall is how .ci/run installs Prism.
const PrismInstall = "npm install --prefix /tmp/prism @stoplight/prism-cli@5.16.0"

// PrismBinary finds Prism: $NIGHTJAR_PRISM, else /tmp/prism. The test is
// skipped only when node or npm is missing.
func PrismBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("NIGHTJAR_PRISM"); p != "" {
		return p
	}
	_, errNode := exec.LookPath("node")
	_, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("skipping the Prism validation: node and npm are needed (" + PrismInstall + ")")
	}
	p := "/tmp/prism/node_modules/.bin/prism"
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Prism is not installed at %s: run %s (or set NIGHTJAR_PRISM)", p, PrismInstall)
	}
	return p
}

// StartPrism serves the OpenAPI file spec as a validating mock on a free
// loopback port and returns its base URL once it answers; it is stopped,
// by its process id, when the test ends. A large description (Zendesk's,
// Mailchimp's) takes Prism half a minute to load: wait is the bound.
func StartPrism(t testing.TB, spec string, wait time.Duration) string {
	t.Helper()
	bin := PrismBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	spec, err = filepath.Abs(spec)
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "prism.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "mock", "-h", "127.0.0.1", "-p", fmt.Sprint(port), spec)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prism: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(wait)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			return base
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("prism did not start in %s:\n%s", wait, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
