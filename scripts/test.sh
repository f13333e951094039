#!/usr/bin/env bash
# The test command: format check, clippy and the API docs with warnings as errors, then every
# test.
# Needs only the Rust toolchain: protobuf files are compiled by protox, a Rust crate.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

echo "--- cargo fmt --check"
cargo fmt --all -- --check
echo "--- cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "--- cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked
echo "--- cargo test"
cargo test --lib --bins --tests --locked
