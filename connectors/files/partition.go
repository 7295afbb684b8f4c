package files

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/nightjar-etl/nightjar/etl"
)

// ledgerClaimed is the ledger status of a file claimed for a partition of
// a run (nightjar worker): the partition's runs load it; other runs skip
// it and leave it in place.
const ledgerClaimed = "claimed"

// Settled lists the files a run would load now, for a worker to split
// into partitions: the files matching the glob whose size and time have
// settled, hashed, and that the ledger does not hold (loaded, failed or
// claimed), in name order, each content once. A file that cannot be
// examined is listed under its name, size and time, as a run records it
// when it fails (the run of its partition sets it aside). Settled uses
// env as Open does, and is called instead of a run.
func (s *Source) Settled(ctx context.Context, env etl.SourceEnv) ([]etl.FileDone, error) {
	env.FullRefresh, env.Position = false, nil
	if err := s.Open(ctx, env); err != nil {
		return nil, err
	}
	var out []etl.FileDone
	seen := make(map[string]bool)
	for _, path := range s.files {
		rel := s.rel(path)
		done, err := s.examine(ctx, path, rel)
		if err != nil {
			return nil, err
		}
		if done == nil || seen[done.SHA256] {
			continue
		}
		seen[done.SHA256] = true
		if env.Ledger != nil {
			if _, found, err := env.Ledger.LedgerEntry(ctx, env.Job, done.SHA256); err != nil {
				return nil, fmt.Errorf("files: ledger lookup %s: %w", rel, err)
			} else if found {
				continue
			}
		}
		out = append(out, *done)
	}
	return out, nil
}

// examine returns path's ledger entry to be: nil for a file still
// changing (left for later).
func (s *Source) examine(ctx context.Context, path, rel string) (*etl.FileDone, error) {
	unread := func() (*etl.FileDone, error) {
		entry, err := unreadEntry(path, rel)
		if err != nil {
			return nil, nil // gone meanwhile
		}
		return &entry, nil
	}
	if err := checkReal(s.realRoot, path, rel); err != nil {
		return unread()
	}
	st, ok, err := s.settled(ctx, path)
	if _, whole := err.(*wholeFileError); whole {
		return unread()
	}
	if err != nil || !ok {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return unread()
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return unread()
	}
	if after, err := f.Stat(); err != nil || after.Size() != st.Size() || !after.ModTime().Equal(st.ModTime()) {
		return nil, nil
	}
	return &etl.FileDone{Path: rel, Size: st.Size(), MTime: st.ModTime().UTC(), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Only restricts the files the source loads to these (named as the ledger
// names them, relative to the config's folder): a partition's, claimed for
// it in the ledger, which the source then loads (other runs skip claimed
// files). Call it before Open.
func (s *Source) Only(files []string) {
	s.only = make(map[string]bool, len(files))
	for _, f := range files {
		s.only[f] = true
	}
}
