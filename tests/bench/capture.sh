#!/usr/bin/env bash
# Capture cost: wall time of `lab reuseaddr` with capture (the default inside the sandbox),
# with capture and --pcap, and with --no-capture. Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -q
lab=target/release/lab
runs=${RUNS:-10}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
time_of() { local s e; s=$(date +%s%N); for _ in $(seq "$runs"); do "$@" >/dev/null; done; e=$(date +%s%N); echo $(( (e - s) / runs / 1000 )); }
with=$(time_of "$lab" reuseaddr --format json)
pcap=$(time_of "$lab" reuseaddr --format json --pcap "$tmp")
without=$(time_of "$lab" reuseaddr --format json --no-capture)
echo "capture: lab reuseaddr, mean of $runs runs: without capture ${without} us, with capture ${with} us, with capture + --pcap ${pcap} us"
echo "capture: cost $(( (with - without) * 100 / without ))% (with --pcap: $(( (pcap - without) * 100 / without ))%)"
