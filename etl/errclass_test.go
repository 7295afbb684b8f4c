package etl_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

func TestPermanentClassification(t *testing.T) {
	t.Parallel()
	refused := &fs.PathError{Op: "open", Path: "leads.csv", Err: fs.ErrPermission}
	perm := etl.Permanent(refused)
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("connection reset by peer"), false},
		{"cancelled", context.Canceled, false},
		{"stopped", etl.ErrStopped, false},
		{"marked", perm, true},
		{"marked, then wrapped", fmt.Errorf("load batch 3: %w", perm), true},
		{"marked twice", etl.Permanent(perm), true},
		{"joined with a transient one", errors.Join(errors.New("close: broken pipe"), fmt.Errorf("write: %w", perm)), true},
		{"too many rejects", fmt.Errorf("run leads: %w: 9 of 10 rows", etl.ErrTooManyRejects), true},
		{"wrapped in %v, so the mark is lost", fmt.Errorf("load: %v", perm), false},
	}
	for _, tt := range tests {
		if got := etl.IsPermanent(tt.err); got != tt.want {
			t.Errorf("%s: IsPermanent(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}

	// The mark hides nothing of what it wraps.
	if etl.Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
	if perm.Error() != refused.Error() {
		t.Errorf("message %q, want %q", perm, refused)
	}
	var pe *fs.PathError
	if !errors.As(fmt.Errorf("open: %w", perm), &pe) || pe != refused || !errors.Is(perm, fs.ErrPermission) {
		t.Error("errors.As / errors.Is do not see through Permanent")
	}
	if etl.Permanent(perm) != perm {
		t.Error("marking a permanent error again wrapped it twice")
	}
}

// TestBackoffWaits checks NewBackOff against a plain reference of the
// policy on random policies: the k-th wait lies within ±Jitter of
// min(Initial·Multiplierᵏ, Max), and the draws do spread.
func TestBackoffWaits(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 7))
	const policies, retries = 500, 12
	spread := 0
	for i := range policies {
		b := etl.Backoff{
			Initial:    time.Duration(1+rng.IntN(10_000)) * time.Millisecond,
			Max:        time.Duration(rng.IntN(600)) * time.Second, // 0: the default
			Multiplier: []float64{0, 1, 1.5, 2, 3}[rng.IntN(5)],    // 0: the default
			Jitter:     []float64{0, 0.1, 0.5, 1}[rng.IntN(4)],     // 0: the default
		}
		want := b
		if want.Max == 0 {
			want.Max = etl.DefaultBackoff.Max
		}
		want.Max = max(want.Max, want.Initial)
		if want.Multiplier == 0 {
			want.Multiplier = etl.DefaultBackoff.Multiplier
		}
		if want.Jitter == 0 {
			want.Jitter = etl.DefaultBackoff.Jitter
		}
		bo := b.NewBackOff()
		for run := range 2 { // Reset starts the sequence again
			for k := range retries {
				centre := math.Min(float64(want.Initial)*math.Pow(want.Multiplier, float64(k)), float64(want.Max))
				lo, hi := centre*(1-want.Jitter), centre*(1+want.Jitter)
				got := bo.NextBackOff()
				// The library steps the interval in whole nanoseconds.
				slack := float64(retries) + 1e-9*centre
				if float64(got) < lo-slack || float64(got) > hi+slack {
					t.Fatalf("policy %d %+v, run %d, retry %d: wait %v, want within [%v, %v]",
						i, b, run, k+1, got, time.Duration(lo), time.Duration(hi))
				}
				if math.Abs(float64(got)-centre) > 0.01*centre {
					spread++
				}
			}
			bo.Reset()
		}
	}
	// With every Jitter ≥ 0.1, a wait within 1 % of its centre has a
	// chance of at most 1 in 10: most waits must be off-centre.
	if total := policies * retries * 2; spread < total/2 {
		t.Errorf("only %d of %d waits were spread by the jitter", spread, total)
	}
}

func TestBackoffZeroIsTheDefault(t *testing.T) {
	t.Parallel()
	bo := etl.Backoff{}.NewBackOff()
	first := bo.NextBackOff()
	if d := etl.DefaultBackoff; first < time.Duration(float64(d.Initial)*(1-d.Jitter)) || first > time.Duration(float64(d.Initial)*(1+d.Jitter))+time.Nanosecond {
		t.Errorf("first wait of the zero policy %v, want DefaultBackoff's %v ±%v", first, d.Initial, d.Jitter)
	}
}

func ExamplePermanent() {
	// Where the error is born: a server refused the credentials.
	refused := etl.Permanent(errors.New("HTTP 401: invalid token"))
	// Further up, context is added with %w, which keeps the mark.
	err := fmt.Errorf("hubspot contacts: batch 4: %w", refused)
	fmt.Println(etl.IsPermanent(err))
	fmt.Println(err)
	// A row-ratio failure is permanent without a mark: its rows are
	// checkpointed, so a retry would read nothing and "succeed".
	fmt.Println(etl.IsPermanent(fmt.Errorf("run leads: %w", etl.ErrTooManyRejects)))
	// Output:
	// true
	// hubspot contacts: batch 4: HTTP 401: invalid token
	// true
}
