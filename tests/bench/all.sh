#!/usr/bin/env bash
# Wall time of `lab all` with the labs side by side (the default) against the same labs one
# after another (`--jobs 1`), paired run by run; median and best of 5 each. Target: <= 4 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q
bin=target/release/lab
ms() { local s e; s=$(date +%s%N); "$bin" all "$@" --format json >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
par=(); seq_=()
for _ in 1 2 3 4 5; do
    par+=("$(ms)")
    seq_+=("$(ms --jobs 1)")
done
stat() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "median %d ms, best %d ms", a[int((NR+1)/2)], a[1]}'; }
echo "lab all (side by side):       $(stat "${par[@]}")"
echo "lab all --jobs 1 (in series): $(stat "${seq_[@]}")"
