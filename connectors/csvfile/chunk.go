package csvfile

// maxFreeChunks is how many unreferenced chunks a pool keeps (20 MiB): a
// PostgreSQL transaction's 10 batches of leads hold about 30 of them until
// its commit, all released together. Measured on 1M leads to PostgreSQL,
// 3 runs each: with 16 kept, each commit left ~14 to the garbage collector,
// and the runs peaked at 95-98 MB RSS and took 1.08-1.09 CPU-s; with 40,
// 81-82 MB and 0.87-0.97 CPU-s.
const maxFreeChunks = 40
