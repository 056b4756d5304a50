#!/usr/bin/env bash
# Wall time of `lab reuseaddr` (release build), best and median of 10 runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q
bin=target/release/lab
times=()
for _ in $(seq 10); do
    s=$(date +%s%N); "$bin" reuseaddr --format json >/dev/null; e=$(date +%s%N)
    times+=($(( (e - s) / 1000000 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "lab reuseaddr wall time over 10 runs: best $(echo "$sorted" | head -1) ms, median $(echo "$sorted" | sed -n 5p) ms"
