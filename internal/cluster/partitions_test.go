package cluster

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
)

// TestGroupKeepsEachFileOnce: against a plain reference (the files in
// order, cut before a file that would take a group past the limit), Group
// puts every file in exactly one partition, in order, and no partition of
// several files goes past the limit.
func TestGroupKeepsEachFileOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxBytes := rapid.Int64Range(1, 1000).Draw(t, "max")
		sizes := rapid.SliceOf(rapid.Int64Range(0, 1500)).Draw(t, "sizes")
		files := make([]etl.FileDone, len(sizes))
		for i, s := range sizes {
			files[i] = etl.FileDone{Path: fmt.Sprintf("f%03d", i), Size: s}
		}
		groups := Group(files, maxBytes)
		var flat []etl.FileDone
		for _, g := range groups {
			if len(g) == 0 {
				t.Fatalf("an empty partition")
			}
			var size int64
			for _, f := range g {
				size += f.Size
			}
			if len(g) > 1 && size > maxBytes {
				t.Fatalf("partition of %d files holds %d bytes, over %d", len(g), size, maxBytes)
			}
			flat = append(flat, g...)
		}
		if len(flat) != len(files) {
			t.Fatalf("%d files in the partitions, %d given", len(flat), len(files))
		}
		for i := range files {
			if flat[i].Path != files[i].Path {
				t.Fatalf("file %d is %s, want %s", i, flat[i].Path, files[i].Path)
			}
		}
		// The reference: how many partitions cutting greedily gives.
		want, size := 0, int64(0)
		for i, f := range files {
			if i == 0 || size+f.Size > maxBytes {
				want++
				size = 0
			}
			size += f.Size
		}
		if len(groups) != want {
			t.Fatalf("%d partitions, want %d", len(groups), want)
		}
	})
}
