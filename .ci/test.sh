#!/usr/bin/env bash
# The test command of README.md: installs the peers and mdBook, runs every test, checks the docs,
# builds the web book.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-peers.sh
# mdBook, pinned: the book's HTML (and tests/book.rs) are checked against this version.
MDBOOK_VERSION=0.5.4
export PATH=$PATH:/usr/sbin:$HOME/.cargo/bin
if [ "$(mdbook --version 2>/dev/null)" != "mdbook v$MDBOOK_VERSION" ]; then
    echo "test: installing mdbook $MDBOOK_VERSION" >&2
    cargo install --locked mdbook --version "$MDBOOK_VERSION"
fi
cargo build --release --locked
cargo test --release --locked -- --test-threads=2
./target/release/lab docs --check
# The committed docs/ as a book (English, then the Chinese book at target/book/zh).
mdbook build docs
mdbook build docs/zh
