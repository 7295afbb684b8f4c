package files

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrOutsideRoot is wrapped by the error for a path that leads outside the
// source's root, through ".." or a symbolic link.
var ErrOutsideRoot = errors.New("outside the root")

// within reports whether path lies in dir or below it; both are clean,
// absolute paths.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// staticDir is the directory part of a glob before its first component
// with a wildcard: the directory every match lies below.
func staticDir(pattern string) string {
	dir := filepath.Dir(pattern)
	for strings.ContainsAny(dir, `*?[\`) {
		dir = filepath.Dir(dir)
	}
	return dir
}

// checkReal resolves path's symbolic links and reports an error wrapping
// ErrOutsideRoot when the file it names is not below realRoot.
func checkReal(realRoot, path, rel string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", rel, err)
	}
	if !within(realRoot, real) {
		return fmt.Errorf("%s resolves to %s, %w %s: refused", rel, real, ErrOutsideRoot, realRoot)
	}
	return nil
}

// moveInto moves path into dir under its own name, or with "-2", "-3", ...
// before the extension when that name is taken; it never overwrites and
// never deletes a file before it exists under the new name. It returns the
// new path.
func moveInto(path, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base := filepath.Base(path)
	stem, ext := splitExt(base)
	for k := 1; k < 10000; k++ {
		name := base
		if k > 1 {
			name = stem + "-" + strconv.Itoa(k) + ext
		}
		dst := filepath.Join(dir, name)
		err := os.Link(path, dst)
		switch {
		case err == nil:
			if err := os.Remove(path); err != nil {
				return dst, fmt.Errorf("remove %s after linking it to %s: %w", path, dst, err)
			}
			return dst, nil
		case errors.Is(err, os.ErrExist):
			continue
		case errors.Is(err, syscall.EXDEV), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP):
			// Another file system, or one without hard links: copy, sync,
			// then remove the original.
			if err := copyExclusive(path, dst); err != nil {
				if errors.Is(err, os.ErrExist) {
					continue
				}
				return "", err
			}
			if err := os.Remove(path); err != nil {
				return dst, fmt.Errorf("remove %s after copying it to %s: %w", path, dst, err)
			}
			return dst, nil
		default:
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for %s in %s", base, dir)
}

// splitExt splits a file name before its extension, keeping ".csv.gz"
// together.
func splitExt(name string) (stem, ext string) {
	inner, gz := strings.CutSuffix(name, ".gz")
	ext = filepath.Ext(inner)
	if gz {
		ext += ".gz"
	}
	if ext == name {
		return name, ""
	}
	return name[:len(name)-len(ext)], ext
}

// copyExclusive copies src to a new file dst (failing if dst exists) and
// syncs it.
func copyExclusive(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}
