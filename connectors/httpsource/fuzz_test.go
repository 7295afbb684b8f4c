package httpsource_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/httpsource"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi"
	"github.com/nightjar-etl/nightjar/connectors/internal/httpapi/httpapitest"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

const (
	fuzzUser     = "ann"
	fuzzPassword = "pw-7Hq2vX9kLm3Zt8Rb"
	fuzzHeader   = "hdr-Qw4Er6Ty8Ui0Op2A"
)

// FuzzPageResponse serves whatever status, header and body the fuzzer
// makes, to a source paginating the way kind picks, with placeholders for the secrets ($PW the password, $B64 the
// basic credentials as sent, $HDR a configured header's value, $ECHO the
// request's headers, $URL the server) and checks that no secret appears
// in the source's error or log lines, whatever the response. Seeds are in
// testdata/fuzz/FuzzPageResponse.
func FuzzPageResponse(f *testing.F) {
	f.Add(uint8(0), 200, "Link", "<$URL/p?c=$PW>; rel=\"next\"", `{"data":[{"id":1,"k":"$PW"}],"next":"$PW"}`)
	f.Add(uint8(1), 200, "X", "y", `{"data":[{"id":1}],"next":"$PW"}`)
	f.Add(uint8(2), 400, "X-Echo", "$B64", "$ECHO")
	f.Add(uint8(1), 429, "Retry-After", "0", `{"message":"slow down $HDR"}`)
	f.Add(uint8(0), 200, "Content-Type", "application/json", `{"error":"$ECHO"}`)
	f.Fuzz(func(t *testing.T, kind uint8, status int, name, value, body string) {
		b64 := base64.StdEncoding.EncodeToString([]byte(fuzzUser + ":" + fuzzPassword))
		code := status
		if code < 200 || code > 599 {
			code = 200 + (code%400+400)%400
		}
		var srv *httptest.Server
		expand := func(s string, r *http.Request) string {
			var echo strings.Builder
			keys := make([]string, 0, len(r.Header))
			for k := range r.Header {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&echo, "%s: %s\n", k, r.Header[k])
			}
			return strings.NewReplacer("$PW", fuzzPassword, "$B64", b64, "$HDR", fuzzHeader,
				"$ECHO", echo.String(), "$URL", srv.URL).Replace(s)
		}
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if validHeaderName(name) && !strings.ContainsAny(value, "\r\n\x00") {
				w.Header().Set(name, expand(value, r))
			}
			w.WriteHeader(code)
			w.Write([]byte(expand(body, r)))
		}))
		defer srv.Close()
		// kind picks the pagination: next link (Link header or body),
		// cursor, offset.
		pagination := []httpsource.Pagination{{Type: "next_link"}, {Type: "next_link", NextPath: "next"},
			{Type: "cursor", CursorPath: "next"}, {Type: "offset", LimitParam: "limit", PageSize: 1}}[kind%4]
		pagination.MaxPages = 3
		cfg := httpsource.Config{URL: srv.URL + "/items", Records: "data", Pagination: pagination}
		cfg.Basic = &httpapi.BasicConfig{Username: fuzzUser, Password: fuzzPassword}
		cfg.Headers = map[string]string{"X-Tenant": fuzzHeader}
		cfg.MaxRetries, cfg.MaxBody = 1, 1<<20
		src, err := httpsource.New(cfg, etl.BuildEnv{})
		if err != nil {
			t.Fatal(err)
		}
		var logs httpapitest.LogBuffer
		_, _, err = drain(src, etl.SourceEnv{BatchSize: 10, Logger: logs.Logger(),
			Clock: etltest.NewClock(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))}, 5)
		text := logs.String()
		if err != nil {
			text += "\n" + err.Error()
		}
		for _, secret := range []string{fuzzPassword, b64, fuzzHeader, fuzzUser + ":" + fuzzPassword} {
			if strings.Contains(text, secret) {
				t.Fatalf("secret %q printed:\n%s", secret, text)
			}
		}
	})
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > 0x7e || c <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}
