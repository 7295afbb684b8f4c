// Package fsync makes files, and the names directories give them,
// durable: the state store, the DuckDB connector and the file targets
// build a file under a temporary name and publish it whole.
package fsync

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// File fsyncs the file at path.
func File(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Dir fsyncs the directory dir, so that a name created, renamed or linked
// in it lasts. A file system that cannot sync a directory is not an
// error: the name stands as well as it can there.
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, os.ErrInvalid) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}

// Publish makes the complete file tmp durable and gives it the name path:
// it syncs tmp, links it to path (a file already there stays: another
// process published one meanwhile) or, on a file system without hard
// links, renames it there (replacing one), and syncs path's directory.
// After a link, tmp is left for the caller to remove.
func Publish(tmp, path string) error {
	if err := File(tmp); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return Dir(filepath.Dir(path))
}
