#!/usr/bin/env bash
# One build for both README commands: after `bash ci/test.sh` (cargo test --workspace), building
# `cargo xtask` must compile only our own crates. Feature unification differs between the two
# commands unless xtask/Cargo.toml pins the features the test build turns on (its "workspace-hack"
# block); a difference rebuilds the whole burn stack (minutes on 2 cores). Fails naming the
# crates that were rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(cargo build --package xtask --locked 2>&1)
echo "$log" | tail -n 3
ours='^(task2vec-[a-z0-9-]+|xtask)$'
rebuilt=$(echo "$log" | sed -n 's/^ *Compiling \([^ ]*\) v.*/\1/p' | grep -Ev "$ours" || true)
if [ -n "$rebuilt" ]; then
  echo "cargo xtask rebuilt dependencies the test build already compiled (feature unification differs):" >&2
  echo "$rebuilt" | sed 's/^/  /' >&2
  echo "compare: cargo tree -p xtask -e features vs cargo tree --workspace -e features" >&2
  exit 1
fi
echo "one build: cargo xtask reuses the test build"
