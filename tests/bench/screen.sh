#!/usr/bin/env bash
# What a beginner sees: each lab's default output in a pseudo-terminal of 80 and 120 columns
# (via script(1)): its lines, its widest line and the line of its first verdict.
# Budgets (80 columns): backlog, reuseaddr
# <= 80 lines; argv, protocol <= 120; options <= 150; a first verdict within 25 lines.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q
bin=$PWD/target/release/lab
screen() { # cols, args...
    local cols=$1; shift
    script -qec "stty cols $cols rows 50; exec $bin $* --color never 2>/dev/null" /dev/null | sed 's/\r//g'
}
printf '%-22s %5s %6s %6s %8s\n' lab cols lines widest verdict
for args in argv protocol options reuseaddr "backlog --clients 20" "gopher" "serve --report" "gopherd --report"; do
    for cols in 80 120; do
        out=$(screen "$cols" $args)
        lines=$(printf '%s\n' "$out" | wc -l)
        widest=$(printf '%s\n' "$out" | python3 -c 'import sys; print(max((len(l.rstrip("\n")) for l in sys.stdin), default=0))')
        verdict=$(printf '%s\n' "$out" | grep -n -m1 -E '\[(confirmed|refuted|depends)\]' | cut -d: -f1 || true)
        printf '%-22s %5s %6s %6s %8s\n' "$args" "$cols" "$lines" "$widest" "${verdict:-none}"
    done
done
