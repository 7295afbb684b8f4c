package config

import "github.com/nightjar-etl/nightjar/etl"

// rowsAndRejects gathers the rows (as one batch of the last non-empty
// schema) and the rejects of batches.
func rowsAndRejects(batches []*etl.Batch) (rows []*etl.Batch, rejects []etl.Reject) {
	for _, b := range batches {
		rejects = append(rejects, b.Rejects...)
		if b.Len() > 0 {
			rows = append(rows, b)
		}
	}
	return rows, rejects
}
