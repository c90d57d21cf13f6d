package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// KwokStageFiles are the kwok stages the harness loads, as paths under kustomize/stage/ in the
// sigs.k8s.io/kwok module. A stages folder (Options.KwokStagesDir, or stages/ next to the kwok
// binary) holds them flat, under their base names.
//
//   - node-initialize marks a new fake node Ready and fills in its addresses and node info.
//   - node-heartbeat-with-lease keeps Ready nodes' status fresh; kwok renews their Leases.
//   - pod-ready moves a scheduled Pod to Running and Ready.
//   - pod-complete finishes Pods owned by a Job.
//   - pod-delete removes a terminating Pod, as a kubelet does once its containers stopped.
var KwokStageFiles = []string{
	"node/fast/node-initialize.yaml",
	"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"pod/fast/pod-ready.yaml",
	"pod/fast/pod-complete.yaml",
	"pod/fast/pod-delete.yaml",
}

// kwokModule is the module that ships the stage files.
const kwokModule = "sigs.k8s.io/kwok@" + KwokVersion

// kwokStages returns the paths of KwokStageFiles. It looks in dir when set (and fails if a file
// is missing there), then in stages/ next to the kwok binary, then in the module cache.
func kwokStages(dir, kwokBin string) ([]string, error) {
	if dir != "" {
		paths, err := stagesIn(dir)
		if err != nil {
			return nil, fmt.Errorf("kwok stages folder %s: %w", dir, err)
		}
		return paths, nil
	}
	if paths, err := stagesIn(filepath.Join(filepath.Dir(kwokBin), "stages")); err == nil {
		return paths, nil
	}
	modDir, err := downloadKwokModule()
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(KwokStageFiles))
	for _, f := range KwokStageFiles {
		p := filepath.Join(modDir, "kustomize", "stage", filepath.FromSlash(f))
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("kwok stage %s in %s: %w", f, modDir, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// stagesIn returns the paths of KwokStageFiles' base names in dir, or an error if one is
// missing.
func stagesIn(dir string) ([]string, error) {
	paths := make([]string, 0, len(KwokStageFiles))
	for _, f := range KwokStageFiles {
		p := filepath.Join(dir, filepath.Base(f))
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// downloadKwokModule returns the folder of sigs.k8s.io/kwok@KwokVersion in the module cache,
// downloading it through the module proxy if needed.
func downloadKwokModule() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", kwokModule)
	cmd.Dir = os.TempDir() // outside any module, so the project's go.mod is neither read nor changed
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("locate kwok stages: go mod download %s: %w: %s", kwokModule, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var mod struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(stdout.Bytes(), &mod); err != nil {
		return "", fmt.Errorf("locate kwok stages: decode go mod download output: %w", err)
	}
	if mod.Error != "" || mod.Dir == "" {
		return "", fmt.Errorf("locate kwok stages: go mod download %s: %s", kwokModule, mod.Error)
	}
	return mod.Dir, nil
}
