#!/usr/bin/env bash
# Benchmark for `lab serve` (prints figures; it is not a test and asserts no timing).
#
#  1. iterative: N sequential full exchanges (connect, prompt, "hello\n", answer, server
#     closes) from one client thread, against `lab serve` (release, the book's defaults)
#     and against tests/bench/book_server.py, a Python 3 port of the book's server
#     (THE COMPARISON). Prints connections/s for each and the ratio.
#  2. concurrent: the same exchange from T client threads against
#     `lab serve --mode concurrent` and against a bare accept-answer-close loop
#     (tests/bench/serve_load.rs bare): what the limits, timeouts and threads cost.
#
# Usage: tests/bench/serve.sh            (N=5000 T=8 by default: N=20000 T=16 tests/bench/serve.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-5000}
T=${T:-8}

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

# start NAME CMD...: runs a server, waits (bounded) for its first line, sets $port.
start() {
    local name=$1; shift
    "$@" >"$tmp/$name.out" 2>/dev/null &
    pids+=($!)
    for _ in $(seq 1 200); do
        port=$(sed -n 's/^Server is running on port \([0-9]*\);.*/\1/p' "$tmp/$name.out" | head -1)
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    echo "$name did not start" >&2
    exit 1
}

# load PORT CONNS THREADS: prints the rate; fails unless every answer was right.
load() {
    local out
    out=$(timeout 600 "$tmp/serve_load" client "$1" "$2" "$3")
    echo "    $out" >&2
    case "$out" in *"connections=$2 ok=$2 "*) ;; *) echo "some exchanges failed" >&2; exit 1 ;; esac
    sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out"
}

stop_last() { kill "${pids[-1]}" 2>/dev/null || true; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

echo "iterative: $N sequential exchanges, one client thread" >&2
start lab target/release/lab serve --port 0
load "$port" 200 1 >/dev/null   # warm-up
lab_it=$(load "$port" "$N" 1)
stop_last
start py python3 tests/bench/book_server.py 0
load "$port" 200 1 >/dev/null
py_it=$(load "$port" "$N" 1)
stop_last

echo "concurrent: $N exchanges from $T client threads" >&2
start labc target/release/lab serve --port 0 --mode concurrent --backlog 128
load "$port" 200 "$T" >/dev/null
lab_co=$(load "$port" "$N" "$T")
stop_last
start bare "$tmp/serve_load" bare
load "$port" 200 "$T" >/dev/null
bare_co=$(load "$port" "$N" "$T")
stop_last

cat <<TABLE

lab serve benchmark on $(uname -r), $(nproc) CPUs (connections per second, full exchange each)
| load                              | server                             | conn/s |
|-----------------------------------|------------------------------------|-------:|
| $N sequential, 1 thread          | lab serve (iterative, the book's)  | $lab_it |
| $N sequential, 1 thread          | book_server.py (Python 3 port)     | $py_it |
| $N from $T threads               | lab serve --mode concurrent        | $lab_co |
| $N from $T threads               | bare accept-answer-close loop      | $bare_co |

iterative: lab serve / Python port = $(ratio "$lab_it" "$py_it")x   (target: at least 3x)
concurrent: lab serve / bare loop  = $(ratio "$lab_co" "$bare_co")x
TABLE
