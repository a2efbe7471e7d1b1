#!/bin/sh
# Build the browser node's page into web-node/dist: the wasm module (release), its
# JavaScript glue (wasm-bindgen, the version pinned in Cargo.lock) and the static files.
# The relay serves web-node/dist (or a `web` directory next to its binary).
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
dist="$root/web-node/dist"
cd "$root"
cargo build -p web-node --target wasm32-unknown-unknown --release --locked
rm -rf "$dist"
mkdir -p "$dist"
wasm-bindgen --target web --no-typescript --out-dir "$dist" \
  "$target/wasm32-unknown-unknown/release/web_node.wasm"
cp web-node/www/* "$dist/"
echo "web node built in $dist"
