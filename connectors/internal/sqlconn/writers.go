package sqlconn

import "sync"

// SingleWriter is an optional Backend interface for a database that admits
// one writing transaction at a time (a SQLite file). WriterKey names the
// database, the same for every Backend on it (a file's absolute path).
//
// While two or more Tables of this process are open on one key, each
// commits its batches at the end of Write instead of holding a transaction
// open across Writes. Otherwise one target's open transaction locks the
// others out: in one job the runner waits for every target's Write before
// it syncs any of them, so they wait for each other until the busy timeout
// ends the run ("database is locked"); in the daemon, one job would stall
// another's loads for as long as its transaction stays open.
type SingleWriter interface {
	WriterKey() string
}

// writers counts the open Tables per SingleWriter key in this process.
var writers = struct {
	sync.Mutex
	open map[string]int
}{open: map[string]int{}}

func addWriter(key string) {
	writers.Lock()
	writers.open[key]++
	writers.Unlock()
}

func removeWriter(key string) {
	writers.Lock()
	if writers.open[key]--; writers.open[key] <= 0 {
		delete(writers.open, key)
	}
	writers.Unlock()
}

// sharedWriter reports whether another Table of this process is open on
// key.
func sharedWriter(key string) bool {
	writers.Lock()
	defer writers.Unlock()
	return writers.open[key] > 1
}
