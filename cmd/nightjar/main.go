// Command nightjar is the nightjar ETL sync engine's CLI: validate a
// config, run jobs, inspect runs, state and quarantine, scaffold a project.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	pprof.StopCPUProfile()
	stop()
	os.Exit(code)
}
