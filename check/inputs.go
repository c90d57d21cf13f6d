package check

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// MaxInputBytes caps one input file or standard input.
const MaxInputBytes = 256 << 20

// input is one file, or standard input, to be read when needed.
type input struct {
	name string
	path string // "" for standard input

	once  sync.Once
	stdin io.Reader
	data  []byte // standard input is read once and kept, since it cannot be read twice
	err   error
}

// read returns the input's bytes. Files are read afresh on every call, so that a run keeps at
// most a few of them in memory at once.
func (in *input) read() ([]byte, error) {
	if in.path == "" {
		in.once.Do(func() { in.data, in.err = readAll(in.stdin) })
		return in.data, in.err
	}
	f, err := os.Open(in.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f)
}

func readAll(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInputBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxInputBytes {
		return nil, fmt.Errorf("input is over %d MiB; split it", MaxInputBytes>>20)
	}
	return data, nil
}

// manifestExt reports whether a directory entry is read as a manifest.
func manifestExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// expand turns the command-line paths into inputs: files as given, directories recursively
// (.yaml, .yml and .json files, in lexical order, hidden entries skipped), and "-" as standard
// input. Paths that cannot be read are returned as errors; the others are still checked.
func expand(paths []string, stdin io.Reader) ([]*input, []InputError) {
	var out []*input
	var errs []InputError
	seen := map[string]bool{}
	add := func(path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		out = append(out, &input{name: path, path: path})
	}
	stdinUsed := false
	for _, p := range paths {
		if p == "-" {
			if !stdinUsed {
				out = append(out, &input{name: "-", stdin: stdin})
				stdinUsed = true
			}
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			errs = append(errs, InputError{Source: p, Message: describeOpenError(err)})
			continue
		}
		if !info.IsDir() {
			add(p)
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, InputError{Source: path, Message: describeOpenError(err)})
				return nil
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && manifestExt(d.Name()) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, InputError{Source: p, Message: err.Error()})
		}
		slices.Sort(files)
		if len(files) == 0 {
			errs = append(errs, InputError{Source: p, Message: "directory holds no .yaml, .yml or .json files"})
		}
		for _, f := range files {
			add(f)
		}
	}
	return out, errs
}

func describeOpenError(err error) string {
	switch {
	case os.IsNotExist(err):
		return "no such file or directory"
	case os.IsPermission(err):
		return "permission denied"
	}
	return err.Error()
}
