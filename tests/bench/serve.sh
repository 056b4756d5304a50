#!/usr/bin/env bash
# Benchmark for `lab serve` (prints figures; it is not a test and asserts no timing).
#
#  1. iterative: N sequential full exchanges (connect, prompt, "hello\n", answer, server
#     closes) from one client thread, against `lab serve` (release, the book's defaults:
#     iterative, listen(1), a log line per client to stderr) and against
#     tests/bench/book_server.py, a Python 3 port of the book's server (THE COMPARISON).
#  2. concurrent: the same exchange from T client threads against
#     `lab serve --mode concurrent` and against a bare accept-answer-close loop
#     (tests/bench/serve_load.rs bare): what the limits, timeouts and threads cost.
#
# Every server runs the whole time on its own kernel-chosen port; the loads alternate
# between them for R rounds and the median rate of each is reported, so a burst of
# other work on the machine does not land on one server only.
#
# Usage: tests/bench/serve.sh        (defaults N=5000 T=8 R=3; e.g. N=20000 R=5 tests/bench/serve.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-5000}
T=${T:-8}
R=${R:-3}

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "building (release) ..." >&2
cargo build --release --quiet
rustc -O --edition 2021 -o "$tmp/serve_load" tests/bench/serve_load.rs

# start NAME CMD...: runs a server, waits (bounded) for its first line, prints its port.
start() {
    local name=$1 port=""
    shift
    "$@" >"$tmp/$name.out" 2>/dev/null &
    pids+=($!)
    for _ in $(seq 1 200); do
        port=$(sed -n 's/^Server is running on port \([0-9]*\);.*/\1/p' "$tmp/$name.out" | head -1)
        if [ -n "$port" ]; then echo "$port"; return 0; fi
        sleep 0.05
    done
    echo "$name did not start" >&2
    exit 1
}

# load PORT CONNS THREADS: prints the rate; fails unless every answer was right.
load() {
    local out
    out=$(timeout 600 "$tmp/serve_load" client "$1" "$2" "$3")
    echo "    port $1: $out" >&2
    case "$out" in *"connections=$2 ok=$2 "*) ;; *) echo "some exchanges failed" >&2; exit 1 ;; esac
    sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out"
}

median() { tr ' ' '\n' <<<"$*" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

lab_port=$(start lab target/release/lab serve --port 0)
py_port=$(start py python3 tests/bench/book_server.py 0)
labc_port=$(start labc target/release/lab serve --port 0 --mode concurrent --backlog 128)
bare_port=$(start bare "$tmp/serve_load" bare)

for p in "$lab_port" "$py_port"; do load "$p" 200 1 >/dev/null; done      # warm-up
for p in "$labc_port" "$bare_port"; do load "$p" 200 "$T" >/dev/null; done

lab_it="" py_it="" lab_co="" bare_co=""
for r in $(seq 1 "$R"); do
    echo "round $r of $R" >&2
    lab_it="$lab_it $(load "$lab_port" "$N" 1)"
    py_it="$py_it $(load "$py_port" "$N" 1)"
    lab_co="$lab_co $(load "$labc_port" "$N" "$T")"
    bare_co="$bare_co $(load "$bare_port" "$N" "$T")"
done
m_lab_it=$(median $lab_it) m_py_it=$(median $py_it) m_lab_co=$(median $lab_co) m_bare_co=$(median $bare_co)

echo
echo "lab serve benchmark: $(uname -r), $(nproc) CPUs; median of $R rounds, connections per second"
echo "(each connection is the full exchange: greeting, prompt, a line, the answer, the server's close)"
printf '%-28s %-40s %8s   %s\n' "load" "server" "conn/s" "rounds"
printf '%-28s %-40s %8s  %s\n' "$N sequential, 1 thread" "lab serve (iterative, book defaults)" "$m_lab_it" "$lab_it"
printf '%-28s %-40s %8s  %s\n' "$N sequential, 1 thread" "book_server.py (Python 3 port)" "$m_py_it" "$py_it"
printf '%-28s %-40s %8s  %s\n' "$N from $T threads" "lab serve --mode concurrent" "$m_lab_co" "$lab_co"
printf '%-28s %-40s %8s  %s\n' "$N from $T threads" "bare accept-answer-close loop (Rust)" "$m_bare_co" "$bare_co"
echo
echo "iterative:  lab serve / Python 3 port = $(ratio "$m_lab_it" "$m_py_it")x   (target: at least 3x)"
echo "concurrent: lab serve / bare loop     = $(ratio "$m_lab_co" "$m_bare_co")x"
