// Command nightjar is the nightjar ETL sync engine's CLI: validate a
// config, run jobs, inspect runs, state and quarantine, scaffold a project.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
)

func main() {
	// NIGHTJAR_CPUPROFILE=FILE writes a CPU profile of the whole command,
	// for performance work on real loads.
	if path := os.Getenv("NIGHTJAR_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "nightjar: cpu profile:", err)
			os.Exit(exitUsage)
		}
	}
	// Signals are handled by the commands that run jobs (see interruptible):
	// the first one stops gracefully, so the context here is never cancelled.
	code := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	pprof.StopCPUProfile()
	os.Exit(code)
}
