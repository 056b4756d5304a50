#!/usr/bin/env bash
# The test command of README.md: installs the peers, runs every test, checks the docs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-peers.sh
export PATH=$PATH:/usr/sbin
cargo build --release --locked
cargo test --release --locked -- --test-threads=2
./target/release/lab docs --check
