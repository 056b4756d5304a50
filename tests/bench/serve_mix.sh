#!/usr/bin/env bash
# The hostile mix against each design of `lab serve` (prints figures; asserts nothing):
# answered, lost, not started (past the budget), median and p99 time to answer, giant lines
# refused, non-UTF-8 lines counted, and the server process's peak RSS, threads and fds.
#   bash tests/bench/serve_mix.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
cargo build --release --quiet --example serve_mix
echo "Linux $(uname -r), $(nproc) CPUs"
exec target/release/examples/serve_mix target/release/lab
