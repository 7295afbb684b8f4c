package main

import (
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"time"
)

// memProfiler watches the Go runtime's memory while a command runs (the
// NIGHTJAR_MEMPROFILE knob): every 10 ms it reads runtime/metrics, keeps
// the peak of each class, and takes a heap profile whenever the live heap
// left by a collection reaches a new high, so the profile written at the
// end shows what was live at the run's peak rather than at its end.
type memProfiler struct {
	path    string
	samples []metrics.Sample
	peak    []uint64
	live    uint64 // the highest /gc/heap/live:bytes seen
	profile []byte // the heap profile taken at that high
	stop    chan struct{}
	done    chan struct{}
}

// memMetrics are the runtime's memory classes the summary reports; the
// first is the one whose high triggers a profile.
var memMetrics = []string{
	"/gc/heap/live:bytes",
	"/gc/heap/goal:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/os-stacks:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/total:bytes",
	"/sched/goroutines:goroutines",
}

func startMemProfile(path string) *memProfiler {
	m := &memProfiler{path: path, peak: make([]uint64, len(memMetrics)), stop: make(chan struct{}), done: make(chan struct{})}
	for _, name := range memMetrics {
		m.samples = append(m.samples, metrics.Sample{Name: name})
	}
	go m.watch()
	return m
}

func (m *memProfiler) watch() {
	defer close(m.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		m.sample()
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
	}
}

func (m *memProfiler) sample() {
	metrics.Read(m.samples)
	for i, s := range m.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			m.peak[i] = max(m.peak[i], s.Value.Uint64())
		}
	}
	if live := m.samples[0].Value.Uint64(); live > m.live {
		m.live = live
		m.takeProfile()
	}
}

func (m *memProfiler) takeProfile() {
	var buf bytesWriter
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err == nil {
		m.profile = buf
	}
}

// finish writes the profile taken at the live heap's high and prints the
// peak of each memory class to w.
func (m *memProfiler) finish(w io.Writer) error {
	close(m.stop)
	<-m.done
	if m.profile == nil {
		// No collection ended while the command ran: the profile of now.
		m.takeProfile()
	}
	fmt.Fprintln(w, "nightjar: memory peaks (runtime/metrics, sampled every 10 ms):")
	for i, name := range memMetrics {
		if name == "/sched/goroutines:goroutines" {
			fmt.Fprintf(w, "  %-40s %d\n", name, m.peak[i])
			continue
		}
		fmt.Fprintf(w, "  %-40s %7.1f MB\n", name, float64(m.peak[i])/(1<<20))
	}
	return os.WriteFile(m.path, m.profile, 0o644)
}

type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}
