package sqlconntest

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl"
)

// CheckSilentServerTimesOut opens a connection, with open, to a server
// that accepts and never answers (at addr, host:port) and checks that the
// open fails within seconds saying connect_timeout, as a connection set
// to a short connect_timeout must. (A DSN pointing at such a server hung
// the run for minutes.)
func CheckSilentServerTimesOut(t *testing.T, open func(addr string) (*sqlx.DB, error)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }() // accepted, never answered
		}
	}()
	// The driver's timeout runs on the real clock, so this measures it.
	clock := etl.SystemClock{}
	start := clock.Now()
	db, err := open(ln.Addr().String())
	if err == nil {
		db.Close()
		t.Fatal("connected to a server that never answers")
	}
	if took := clock.Now().Sub(start); took > 5*time.Second || !strings.Contains(err.Error(), "connect_timeout") {
		t.Errorf("after %s: %v; want a connect_timeout error within seconds", took, err)
	}
}
