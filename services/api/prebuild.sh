#!/bin/sh
# Builds the API as one statically linked binary into bin/, the only file its
# image holds. A target dir of its own keeps these flags from invalidating the
# workspace's usual build.
set -eu
cd "$(dirname "$0")"
target_dir=../../target/prebuild
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release --locked \
    --package demo-api --target x86_64-unknown-linux-gnu --target-dir "$target_dir"
mkdir -p bin
cp "$target_dir/x86_64-unknown-linux-gnu/release/demo-api" bin/demo-api.new
mv bin/demo-api.new bin/demo-api
