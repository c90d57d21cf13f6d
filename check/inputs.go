package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MaxInputBytes caps one input file or standard input.
const MaxInputBytes = 256 << 20

// input is one file, or standard input. Every input is read exactly once (see load): a pipe, a
// FIFO, /dev/stdin or a process substitution such as <(helm template ...) cannot be read twice,
// and a file read twice could change in between.
type input struct {
	name  string
	path  string // "" for standard input
	stdin io.Reader

	data []byte
	err  error
	// parsed holds, by their number in stream.Split's order, the documents the first pass
	// parsed in full and the second pass need not parse again (see gatherFacts).
	parsed map[int]*parsedChunk
	// metas holds, by the same numbers, what the first pass read with quickMeta, so that the
	// second pass need not read it again.
	metas map[int]meta
}

// load reads the input. It returns early, with ctx's error, when ctx is cancelled while the read
// blocks, as opening a FIFO nobody writes to does; the read is then abandoned.
func (in *input) load(ctx context.Context) error {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		if in.path == "" {
			data, err := readAll(in.stdin, 0)
			done <- result{data, err}
			return
		}
		f, err := os.Open(in.path)
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer f.Close()
		size := int64(0)
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
			size = info.Size()
		}
		data, err := readAll(f, size)
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		in.data, in.err = r.data, r.err
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readAll reads r to the end; size, when known, sizes the buffer at once. Otherwise (a pipe)
// the input is read in blocks and copied once into a buffer of its exact size, so that memory
// peaks at twice the input while reading, not at the three or four times that growing one
// buffer by doubling costs.
func readAll(r io.Reader, size int64) ([]byte, error) {
	tooLarge := fmt.Errorf("input is over %d MiB; split it", MaxInputBytes>>20)
	if size > MaxInputBytes {
		return nil, tooLarge
	}
	r = io.LimitReader(r, MaxInputBytes+1)
	if size > 0 {
		var buf bytes.Buffer
		buf.Grow(int(size) + bytes.MinRead)
		if _, err := buf.ReadFrom(r); err != nil {
			return nil, err
		}
		if buf.Len() > MaxInputBytes {
			return nil, tooLarge
		}
		return buf.Bytes(), nil
	}
	const block = 1 << 20
	var blocks [][]byte
	total := 0
	for {
		b := make([]byte, block)
		n, err := io.ReadFull(r, b)
		blocks = append(blocks, b[:n])
		total += n
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if total > MaxInputBytes {
		return nil, tooLarge
	}
	if len(blocks) == 1 {
		return blocks[0], nil
	}
	data := make([]byte, 0, total)
	for _, b := range blocks {
		data = append(data, b...)
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
