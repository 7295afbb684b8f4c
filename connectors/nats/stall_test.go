package nats

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// holdingProxy forwards one connection to upstream; while held, what the
// server sends (publish acks) waits in the proxy.
type holdingProxy struct {
	addr string
	mu   sync.Mutex
	gate chan struct{} // closed: forwarding
}

func startHoldingProxy(t *testing.T, upstream string) *holdingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &holdingProxy{addr: ln.Addr().String(), gate: make(chan struct{})}
	close(p.gate)
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", upstream)
			if err != nil {
				client.Close()
				return
			}
			t.Cleanup(func() { client.Close(); server.Close() })
			go func() { _, _ = io.Copy(server, client) }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := server.Read(buf)
					if n > 0 {
						p.mu.Lock()
						gate := p.gate
						p.mu.Unlock()
						<-gate
						if _, err := client.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// hold keeps the server's bytes for d.
func (p *holdingProxy) hold(d time.Duration) {
	gate := make(chan struct{})
	p.mu.Lock()
	p.gate = gate
	p.mu.Unlock()
	time.AfterFunc(d, func() { close(gate) })
}

// TestSlowAcksWithinTheTimeout: publish acks that come late, but within
// the connection's timeout, do not fail a batch: with a full window the
// target waits for them (nats.go alone gives up after 200 ms with
// ErrTooManyStalledMsgs, as it did under a loaded server).
func TestSlowAcksWithinTheTimeout(t *testing.T) {
	b := setup(t)
	u, err := url.Parse(b.conn.Config.(*ConnConfig).URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startHoldingProxy(t, u.Host)
	tg := b.target(t, &etl.Connection{Name: "bus", Type: "nats", Config: &ConnConfig{URL: "nats://" + proxy.addr}})
	proxy.hold(time.Second)
	if err := tg.Write(context.Background(), idBatch(1)); err != nil {
		t.Fatalf("write while the acks are held for 1s: %v", err)
	}
	if tg.Published != 50 {
		t.Fatalf("published %d; want 50", tg.Published)
	}
}
