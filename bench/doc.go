// Package bench holds end-to-end benchmarks of nightjar against its peers;
// the scripts beside it run the same loads against the peer tools and print
// ratios.
package bench
