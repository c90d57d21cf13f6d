package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestStripSkewWarning(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"warning only → empty", "WARNING: version difference between client (1.32) and server (1.37) exceeds the supported minor version skew of +/-1\n", ""},
		{"warning then error → error kept", "WARNING: version difference between client (1.32) and server (1.37) exceeds the supported minor version skew of +/-1\nError from server (NotFound): pods \"x\" not found\n", "Error from server (NotFound): pods \"x\" not found\n"},
		{"other warnings kept", "Warning: would violate PodSecurity\n", "Warning: would violate PodSecurity\n"},
		{"empty stays empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stripSkewWarning(tt.in); got != tt.want {
				t.Errorf("stripSkewWarning(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"fewer lines than asked → all", "a\nb\n", 5, "a\nb"},
		{"more lines than asked → the last ones", "a\nb\nc\nd\n", 2, "c\nd"},
		{"no trailing newline", "a\nb\nc", 1, "c"},
		{"zero lines → empty", "a\n", 0, ""},
		{"empty input → empty", "", 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lastLines([]byte(tt.in), tt.n); got != tt.want {
				t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func TestKwokStagesFromFolder(t *testing.T) {
	dir := t.TempDir()
	for _, f := range KwokStageFiles[:len(KwokStageFiles)-1] {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte("kind: Stage\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kwokStages(dir, "/nonexistent/kwok"); err == nil {
		t.Error("a folder missing one stage: want an error")
	}
	last := KwokStageFiles[len(KwokStageFiles)-1]
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(last)), []byte("kind: Stage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	paths, err := kwokStages(dir, "/nonexistent/kwok")
	if err != nil {
		t.Fatalf("kwokStages: %v", err)
	}
	if len(paths) != len(KwokStageFiles) {
		t.Errorf("got %d stages, want %d", len(paths), len(KwokStageFiles))
	}
}

func TestResolveBinariesMissing(t *testing.T) {
	opts := Options{KubeBinDir: t.TempDir(), Etcd: filepath.Join(t.TempDir(), "etcd")}.withDefaults()
	if _, err := opts.resolveBinaries(); !errors.Is(err, ErrBinaryNotFound) {
		t.Fatalf("resolveBinaries() error = %v, want ErrBinaryNotFound", err)
	}
}
