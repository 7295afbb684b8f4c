package brokerconn

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/nightjar-etl/nightjar/etl"
)

// TLS is a connection's `tls` key.
type TLS struct {
	// CAFile is a PEM bundle of the authorities to trust instead of the
	// system's.
	CAFile string `yaml:"ca_file" doc:"a PEM bundle of the authorities to trust instead of the system's"`
	// CertFile and KeyFile are a client certificate and its key (mutual
	// TLS).
	CertFile string `yaml:"cert_file" doc:"a client certificate (mutual TLS), with key_file"`
	KeyFile  string `yaml:"key_file" doc:"the client certificate's key"`
	// ServerName overrides the name the server's certificate must carry.
	ServerName string `yaml:"server_name" doc:"overrides the name the server's certificate must carry"`
	// InsecureSkipVerify accepts any server certificate; for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" doc:"accepts any server certificate; for tests only"`
}

// Enabled reports whether any TLS option is set.
func (t TLS) Enabled() bool { return t != TLS{} }

// Config builds the tls.Config; relative paths are below baseDir. Errors
// name the key.
func (t TLS) Config(baseDir string) (*tls.Config, error) {
	path := func(p string) string {
		if p == "" || strings.HasPrefix(p, "/") {
			return p
		}
		return baseDir + "/" + p
	}
	cfg := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // asked for in config
	if t.CAFile != "" {
		pem, err := os.ReadFile(path(t.CAFile))
		if err != nil {
			return nil, &etl.FieldError{Path: []string{"tls", "ca_file"}, Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &etl.FieldError{Path: []string{"tls", "ca_file"}, Err: fmt.Errorf("%s holds no PEM certificate", t.CAFile)}
		}
		cfg.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, &etl.FieldError{Path: []string{"tls", "cert_file"}, Err: errors.New("cert_file and key_file go together")}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(path(t.CertFile), path(t.KeyFile))
		if err != nil {
			return nil, &etl.FieldError{Path: []string{"tls", "cert_file"}, Err: err}
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Redact returns the URLs in s (a comma-separated list) without their
// passwords, for messages.
func Redact(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(an URL that does not parse)"
			continue
		}
		if u.User != nil {
			u.User = url.User(u.User.Username())
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// DefaultAttempts is how many times Dial tries to connect by default.
const DefaultAttempts = 3

// Dial calls connect until it succeeds, up to attempts times, waiting
// etl.DefaultBackoff between tries on clock (the run's); an error marked
// etl.Permanent (refused credentials) is not tried again. The error says how many attempts were
// made.
func Dial[T any](ctx context.Context, clock etl.Clock, attempts int, connect func(context.Context) (T, error)) (T, error) {
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	bo := etl.DefaultBackoff.NewBackOff()
	var zero T
	for n := 1; ; n++ {
		c, err := connect(ctx)
		if err == nil {
			return c, nil
		}
		if n >= attempts || etl.IsPermanent(err) {
			if n > 1 {
				err = fmt.Errorf("after %d attempts: %w", n, err)
			}
			return zero, err
		}
		if etl.Sleep(ctx, etl.SystemClockOr(clock), bo.NextBackOff()) != nil {
			return zero, fmt.Errorf("%w (last attempt: %v)", ctx.Err(), err)
		}
	}
}

// RecordID is the id a broker target gives row of the batch with key
// batchKey (row -1: the whole batch), as Nats-Msg-Id or AMQP message-id:
// the same for a batch and its replay after a crash (etl.BatchKey),
// different across jobs and targets.
func RecordID(job, target, batchKey string, row int) string {
	sum := sha256.Sum256([]byte(job + "\x00" + target + "\x00" + batchKey + "\x00" + strconv.Itoa(row)))
	return hex.EncodeToString(sum[:16])
}
