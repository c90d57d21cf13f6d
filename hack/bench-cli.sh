#!/usr/bin/env bash
# Times `stowage check` over the shared corpus, and over ten copies of it, as a user runs it:
# a built binary, wall time and peak RSS. Usage: hack/bench-cli.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
corpus=${STOWAGE_CORPUS:-../shared/corpus}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$bin/stowage" ./cmd/stowage
CGO_ENABLED=0 go build -tags checkonly -trimpath -ldflags '-s -w' -o "$bin/stowage-check" ./cmd/stowage
for i in $(seq 1 10); do mkdir -p "$bin/x10/$i" && cp -r "$corpus"/* "$bin/x10/$i/"; done

measure() { # binary, name, args...
	local exe=$1 name=$2; shift 2
	local best=999999 rss=0
	for _ in $(seq 1 "$runs"); do
		local start end ms peak
		start=$(date +%s%N)
		peak=$( { /usr/bin/env time -f '%M' "$exe" check -o json "$@" >/dev/null || true; } 2>&1 | tail -1 )
		end=$(date +%s%N)
		ms=$(( (end - start) / 1000000 ))
		(( ms < best )) && best=$ms
		(( peak > rss )) && rss=$peak
	done
	printf '%-28s best of %d: %4d ms wall, peak RSS %d MiB\n' "$name" "$runs" "$best" $(( rss / 1024 ))
}
for exe in stowage stowage-check; do
	echo "$exe ($(du -m "$bin/$exe" | cut -f1) MB):"
	measure "$bin/$exe" "  corpus (30 StatefulSets)" "$corpus"
	measure "$bin/$exe" "  10x corpus (300)" "$bin/x10"
done
