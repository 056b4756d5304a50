#!/usr/bin/env bash
# Wall time of `lab backlog --clients 20` (the default run) and of the backlog sweep.
# Usage: tests/bench/backlog.sh [runs]   (default 3 runs each; builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
cargo build --release --quiet
bin=./target/release/lab

wall() { # prints the wall time of one run of "$@", in seconds
    local start end ms
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    ms=$(((end - start) / 1000000))
    printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

bench() {
    local label=$1
    shift
    local times=()
    for _ in $(seq "$runs"); do times+=("$(wall "$@")"); done
    printf '%-48s %s s\n' "$label" "${times[*]}"
}

echo "lab backlog wall time, $runs runs each ($(uname -r), uid $(id -u))"
bench "lab backlog --clients 20" "$bin" backlog --clients 20
bench "lab backlog --backlog 0,1,2,5,10,128" "$bin" backlog --backlog 0,1,2,5,10,128
bench "lab backlog --clients 1000" "$bin" backlog --clients 1000
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    bench "lab backlog --clients 20 (uid 65534)" \
        setpriv --reuid=65534 --regid=65534 --clear-groups "$bin" backlog --clients 20
fi
