package transforms

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
)

// TestStepsConcurrentApply runs one instance of each step on many batches
// at once: the schema caches are shared, everything else is per batch (run
// with -race).
func TestStepsConcurrentApply(t *testing.T) {
	steps := []etl.Step{
		mustStep(t, `rename: { raw: n }`),
		mustStep(t, `cast: { n: int }`),
		mustStep(t, `filter: 'n % 2 == 0'`),
	}
	schema := etl.MustSchema(etl.Field{Name: "raw", Type: etl.TypeString})
	const workers, rows = 8, 100
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := etl.NewBatch(schema, rows)
			for i := 0; i < rows; i++ {
				b.Cols[0].AppendString(fmt.Sprint(i))
				b.Origins = append(b.Origins, etl.Origin{Line: int64(i + 2)})
			}
			for _, s := range steps {
				var err error
				if b, err = s.Apply(context.Background(), b); err != nil {
					errs[w] = err
					return
				}
			}
			if b.Len() != rows/2 || b.Cols[0].Int[1] != 2 {
				errs[w] = fmt.Errorf("worker %d: %d rows, second %d", w, b.Len(), b.Cols[0].Int[1])
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
