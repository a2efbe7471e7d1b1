#!/bin/sh
# Build the browser node's page and the coordinator page into web-node/dist: the wasm module (release), its
# JavaScript glue (wasm-bindgen, the version pinned in Cargo.lock) and the static files.
# The relay serves web-node/dist (or a `web` directory next to its binary).
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
dist="$root/web-node/dist"
cd "$root"
if ! command -v wasm-bindgen >/dev/null; then
  version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
  echo "wasm-bindgen is missing: cargo install wasm-bindgen-cli --version $version --locked" >&2
  exit 1
fi
cargo build -p web-node --target wasm32-unknown-unknown --release --locked
rm -rf "$dist"
mkdir -p "$dist"
wasm-bindgen --target web --no-typescript --out-dir "$dist" \
  "$target/wasm32-unknown-unknown/release/web_node.wasm"
cp -R web-node/www/. "$dist/"
# The coordinator page offers the repository's examples.
mkdir -p "$dist/submit/examples"
cp examples/math.js examples/sum.js examples/array.js examples/primes.js examples/primes.wasm \
  "$dist/submit/examples/"
echo "web node built in $dist"
