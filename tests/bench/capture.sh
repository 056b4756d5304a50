#!/usr/bin/env bash
# What packet capture costs: wall time of `lab all` with capture (the default), with capture
# and --pcap DIR, and with --no-capture, paired run by run (median and best of 5 each), and the
# peak RSS of each (GNU time). Target: capture adds at most 10 % to `lab all`.
# The peer named in the same run: tcpdump, reading back every file `lab all --pcap` wrote.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -q
bin=target/release/lab
runs=${RUNS:-5}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ms() { local s e; s=$(date +%s%N); "$bin" all --format json "$@" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
with=(); pcap=(); without=()
for _ in $(seq "$runs"); do
    without+=("$(ms --no-capture)")
    with+=("$(ms)")
    rm -rf "$tmp/p"; pcap+=("$(ms --pcap "$tmp/p")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
best() { printf '%s\n' "$@" | sort -n | head -1; }
m0=$(median "${without[@]}"); m1=$(median "${with[@]}"); m2=$(median "${pcap[@]}")
echo "lab all --no-capture:  median $m0 ms, best $(best "${without[@]}") ms"
echo "lab all (capture):     median $m1 ms, best $(best "${with[@]}") ms  ($(( (m1 - m0) * 100 / m0 ))% over --no-capture)"
echo "lab all --pcap DIR:    median $m2 ms, best $(best "${pcap[@]}") ms  ($(( (m2 - m0) * 100 / m0 ))% over --no-capture)"
rss() { command time -f %M "$bin" all --format json "$@" 2>&1 >/dev/null | tail -1; }
echo "peak RSS: --no-capture $(rss --no-capture) KiB, capture $(rss) KiB"
files=$(find "$tmp/p" -name '*.pcap' | wc -l)
packets=0
for f in $(find "$tmp/p" -name '*.pcap'); do
    packets=$(( packets + $(tcpdump -nn -r "$f" 2>/dev/null | wc -l) ))
done
echo "tcpdump read $files pcap files, $packets packets in all"
