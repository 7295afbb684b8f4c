package httpsource_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/httpsource"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestMeasureLargePage reads one page of NIGHTJAR_MEASURE_PAGE_MB
// megabytes (records of about 200 bytes, written by the server as it goes)
// and reports the heap's peak; run it under /usr/bin/time -v for the peak
// resident size. Skipped unless the variable is set;
// NIGHTJAR_MEASURE_INFER=1 leaves fields: out.
func TestMeasureLargePage(t *testing.T) {
	mb, _ := strconv.Atoi(os.Getenv("NIGHTJAR_MEASURE_PAGE_MB"))
	if mb <= 0 {
		t.Skip("set NIGHTJAR_MEASURE_PAGE_MB to measure")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":[`))
		for i, n := 0, 0; n < mb<<20; i++ {
			if i > 0 {
				w.Write([]byte(","))
			}
			k, _ := fmt.Fprintf(w, `{"id":%d,"email":"lead%d@example.com","name":"Lead number %d","updated_at":"2026-11-01T10:00:00Z","score":%d.5,"notes":"some free text that makes the record about two hundred bytes long"}`, i, i, i, i%100)
			n += k + 1
		}
		w.Write([]byte(`]}`))
	}))
	defer srv.Close()
	cfg := httpsource.Config{URL: srv.URL + "/page", Records: "data",
		Fields: map[string]string{"id": "int", "email": "string", "name": "string", "updated_at": "timestamp", "score": "float", "notes": "string"}}
	cfg.MaxBody = 1 << 30
	if os.Getenv("NIGHTJAR_MEASURE_INFER") != "" {
		cfg.Fields = nil // typed from the first page, which is then held whole
	}
	src, err := httpsource.New(cfg, etl.BuildEnv{})
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := drain(src, etl.SourceEnv{BatchSize: 10000}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%d MB page: %d rows, heap in use now %d MB, total allocated %d MB, sys %d MB", mb, rows, ms.HeapInuse>>20, ms.TotalAlloc>>20, ms.Sys>>20)
}
