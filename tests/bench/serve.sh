#!/usr/bin/env bash
# Benchmark for `lab serve` (prints figures; it is not a test and asserts no timing).
#
# Every connection is the full exchange: connect, greeting and prompt, "hello\n", the
# answer, the server's close (tests/bench/serve_load.rs client checks every answer).
#
#  1. iterative, 1 client thread: N sequential exchanges against `lab serve` (release, the
#     book's defaults: iterative, listen(1), a log line per client to stderr) and against
#     tests/bench/book_server.py, a Python 3 port of the book's server (THE COMPARISON).
#     This is bound by round trips between client and server as much as by the server.
#     Once with the line "hello", once with a 60-character line (the book's unbuffered
#     file reads a line one byte per recv(2), so its cost grows with the line).
#  2. iterative, T client threads, backlog 64 on both: clients queue up, so the server's
#     own work per connection decides the rate.
#  3. the book's three designs, T client threads, each with --quiet and backlog 1024:
#     `lab serve --mode iterative|threaded|event` against a bare accept-answer-close loop
#     (serve_load.rs bare): what the limits, timeouts and the design cost. Target: CPU per
#     connection at most 1.25x the bare loop's, in every mode.
# Also printed: each server's CPU time per connection (utime+stime from /proc/PID/stat).
#
# Every server runs the whole time on its own kernel-chosen port; the loads alternate
# between them for R rounds and the median rate is reported, so a burst of other work
# on the machine does not land on one server only.
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
python=$(python3 -c 'import sys; print(sys.executable)')

# start NAME CMD...: runs a server, waits (bounded) for its first line; sets port and pid.
# (Not in $(...): the server must be a child of this shell so cleanup can stop it.)
start() {
    local name=$1
    shift
    : >"$tmp/$name.out" # exists before the child's own redirection: no race with sed below
    "$@" >"$tmp/$name.out" 2>/dev/null &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 200); do
        port=$(sed -n 's/^Server is running on port \([0-9]*\);.*/\1/p' "$tmp/$name.out" | head -1)
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    echo "$name did not start" >&2
    exit 1
}

# CPU time of a process so far, in clock ticks.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# run KEY PORT PID THREADS [LEN]: one load of N exchanges; appends the rate to rate_KEY
# and the CPU ticks used to cpu_KEY; fails unless every answer was right.
run() {
    local key=$1 port=$2 pid=$3 threads=$4 before out rate
    before=$(ticks "$pid")
    out=$(timeout 600 "$tmp/serve_load" client "$port" "$N" "$threads" ${5:-})
    echo "    $key: $out" >&2
    case "$out" in *"connections=$N ok=$N "*) ;; *) echo "some exchanges failed" >&2; exit 1 ;; esac
    rate=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out")
    eval "rate_$key=\"\${rate_$key:-} $rate\""
    eval "cpu_$key=\$(( \${cpu_$key:-0} + $(ticks "$pid") - before ))"
}

median() { tr ' ' '\n' <<<"$*" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
# microseconds of CPU per connection over all rounds
us_per_conn() { python3 -c "print(f'{$1 * 1e6 / $(getconf CLK_TCK) / ($N * $R):.0f}')"; }

start lab target/release/lab serve --port 0;                 lab_port=$port lab_pid=$pid
start py "$python" tests/bench/book_server.py 0;              py_port=$port py_pid=$pid
start lab64 target/release/lab serve --port 0 --backlog 64;  lab64_port=$port lab64_pid=$pid
start py64 "$python" tests/bench/book_server.py 0 64;         py64_port=$port py64_pid=$pid
for m in iterative threaded event; do
    start "lab_$m" target/release/lab serve --port 0 --mode "$m" --backlog 1024 --max-concurrent 1024 --quiet
    eval "lab${m}_port=$port lab${m}_pid=$pid"
done
start bare "$tmp/serve_load" bare;                            bare_port=$port bare_pid=$pid

for p in "$lab_port" "$py_port" "$lab64_port" "$py64_port"; do "$tmp/serve_load" client "$p" 200 1 >/dev/null; done
for p in "$labiterative_port" "$labthreaded_port" "$labevent_port" "$bare_port"; do "$tmp/serve_load" client "$p" 200 "$T" >/dev/null; done

for r in $(seq 1 "$R"); do
    echo "round $r of $R" >&2
    run lab "$lab_port" "$lab_pid" 1
    run py "$py_port" "$py_pid" 1
    run lablong "$lab_port" "$lab_pid" 1 60
    run pylong "$py_port" "$py_pid" 1 60
    run lab64 "$lab64_port" "$lab64_pid" "$T"
    run py64 "$py64_port" "$py64_pid" "$T"
    for m in iterative threaded event; do
        eval "run lab$m \"\$lab${m}_port\" \"\$lab${m}_pid\" \"$T\""
    done
    run bare "$bare_port" "$bare_pid" "$T"
done

row() { # LOAD SERVER KEY
    local rates cpu
    eval "rates=\$rate_$3 cpu=\$cpu_$3"
    printf '%-26s %-44s %7s %9s   %s\n' "$1" "$2" "$(median $rates)" "$(us_per_conn "$cpu")" "$rates"
}
echo
echo "lab serve benchmark: Linux $(uname -r), $(nproc) CPUs, N=$N per round, median of $R rounds"
printf '%-26s %-44s %7s %9s   %s\n' "load" "server" "conn/s" "CPU us/c" "rounds (conn/s)"
row "$N seq., 1 thread" "lab serve (iterative, book defaults)" lab
row "$N seq., 1 thread" "book_server.py (Python 3 port, listen(1))" py
row "$N seq., 60-char line" "lab serve (iterative, book defaults)" lablong
row "$N seq., 60-char line" "book_server.py (Python 3 port, listen(1))" pylong
row "$N from $T threads" "lab serve --backlog 64 (iterative)" lab64
row "$N from $T threads" "book_server.py, listen(64)" py64
for m in iterative threaded event; do
    row "$N from $T threads" "lab serve --mode $m --quiet" "lab$m"
done
row "$N from $T threads" "bare accept-answer-close loop (Rust)" bare
echo
echo "iterative, 1 client thread:  lab serve / Python 3 port = $(ratio "$(median $rate_lab)" "$(median $rate_py)")x   (target: at least 3x)"
echo "iterative, 60-char line:     lab serve / Python 3 port = $(ratio "$(median $rate_lablong)" "$(median $rate_pylong)")x"
echo "iterative, $T client threads: lab serve / Python 3 port = $(ratio "$(median $rate_lab64)" "$(median $rate_py64)")x"
echo "CPU per connection (hello):  Python 3 port / lab serve = $(ratio "$cpu_py" "$cpu_lab")x"
echo "CPU floor: the bare loop's CPU per connection is what the kernel's accept/send/recv/close cost"
echo "any server here; no server can be faster than that in this load."
for m in iterative threaded event; do
    eval "r=\$rate_lab$m c=\$cpu_lab$m"
    printf '%-28s lab serve / bare loop = %sx conn/s, %sx CPU per connection (target: at most 1.25x)\n' \
        "$m, $T client threads:" "$(ratio "$(median $r)" "$(median $rate_bare)")" "$(ratio "$c" "$cpu_bare")"
done
