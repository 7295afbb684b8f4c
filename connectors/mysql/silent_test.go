package mysql

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSilentServerTimesOut: a DSN pointing at a port that accepts and
// never answers hung the run for minutes (190 s until killed). Connecting
// is bounded by connect_timeout, and the error says so.
func TestSilentServerTimesOut(t *testing.T) {
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
	c := &ConnConfig{DSN: "u@tcp(" + ln.Addr().String() + ")/db", ConnectTimeout: 300 * time.Millisecond}
	start := time.Now()
	db, err := c.open(context.Background(), "", false)
	if err == nil {
		db.Close()
		t.Fatal("connected to a server that never answers")
	}
	if took := time.Since(start); took > 5*time.Second || !strings.Contains(err.Error(), "connect_timeout") {
		t.Errorf("after %s: %v; want a connect_timeout error within seconds", took, err)
	}
}
