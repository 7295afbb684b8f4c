package brokerconn

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/nightjar-etl/nightjar/etl"
)

// Cuts remembers where a broker source cut batches short of the batch
// size. A full batch is cut the same way on a replay (the same messages
// come again in the same order), but a short one was cut by time: the
// stream or queue had nothing more then, and after a crash more may have
// come. A replay of a short batch cut anywhere else gets another batch key
// and the targets load its rows again. So the source records each short
// cut (Record) before it hands the batch out, and a rerun cuts where a
// recorded cut says (Has). Once the batches ending there are acked, the
// cuts are forgotten (Forget, then Save).
//
// A cut is a string the source chooses (a stream sequence, a count and a
// message's identity). Cuts is safe for concurrent use: Forget is called
// from Ack, concurrently with Next.
type Cuts struct {
	notes etl.Fingerprints
	clock etl.Clock
	key   string

	mu    sync.Mutex
	list  []string
	dirty bool
}

// cutsRecord is the id of the one record holding the list.
const cutsRecord = "cuts"

// LoadCuts reads the cuts recorded under key in notes (etl.SourceEnv.Notes).
// With nil notes (a dry run, a preview) nothing is read or recorded.
func LoadCuts(ctx context.Context, notes etl.Fingerprints, clock etl.Clock, key string) (*Cuts, error) {
	if clock == nil {
		clock = etl.SystemClock{}
	}
	c := &Cuts{notes: notes, clock: clock, key: key}
	if notes == nil {
		return c, nil
	}
	got, err := notes.Fingerprints(ctx, key, []string{cutsRecord})
	if err != nil {
		return nil, fmt.Errorf("read the batch cuts recorded: %w", err)
	}
	if s := got[cutsRecord]; s != "" {
		if err := json.Unmarshal([]byte(s), &c.list); err != nil {
			return nil, fmt.Errorf("read the batch cuts recorded: %q: %w", s, err)
		}
	}
	return c, nil
}

// Len is how many cuts are recorded.
func (c *Cuts) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.list)
}

// Has reports whether cut is recorded.
func (c *Cuts) Has(cut string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.list, cut)
}

// Record adds cut and writes the list before it returns.
func (c *Cuts) Record(ctx context.Context, cut string) error {
	c.mu.Lock()
	if !slices.Contains(c.list, cut) {
		c.list = append(c.list, cut)
		c.dirty = true
	}
	c.mu.Unlock()
	return c.Save(ctx)
}

// Forget drops the cuts for which drop reports true; Save (or the next
// Record) writes the list.
func (c *Cuts) Forget(drop func(cut string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.list)
	c.list = slices.DeleteFunc(c.list, drop)
	if len(c.list) != n {
		c.dirty = true
	}
}

// Save writes the list if it changed since it was read or written.
func (c *Cuts) Save(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty || c.notes == nil {
		return nil
	}
	list := c.list
	if list == nil {
		list = []string{}
	}
	js, err := json.Marshal(list)
	if err != nil {
		return err
	}
	if err := c.notes.SaveFingerprints(ctx, c.key, map[string]string{cutsRecord: string(js)}, c.clock.Now()); err != nil {
		return fmt.Errorf("record where batches were cut: %w", err)
	}
	c.dirty = false
	return nil
}
