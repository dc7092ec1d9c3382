#!/usr/bin/env bash
# Builds the example functions that need compiling: the Rust one, to wasm32-wasip1.
# Output: examples/functions/rust-wordcount.wasm. Needs `rustup target add wasm32-wasip1`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target_dir="${CARGO_TARGET_DIR:-$here/rust-wordcount/target}"
cargo build --quiet --release --target wasm32-wasip1 \
  --manifest-path "$here/rust-wordcount/Cargo.toml" --target-dir "$target_dir"
cp "$target_dir/wasm32-wasip1/release/rust-wordcount.wasm" "$here/rust-wordcount.wasm"
echo "$here/rust-wordcount.wasm ($(wc -c < "$here/rust-wordcount.wasm") bytes)"
