#!/usr/bin/env bash
# Fetches the quick suite's sources with `cargo xtask fetch` (registries only: apt, PyPI) into a
# throw-away TASK2VEC_HOME, then materialises every task of the quick suite (and of offline-full
# for whatever sources are present). Needs: apt-get (after `apt-get update`), dpkg-deb,
# python3 with pip, md5sum. Takes about a minute of fetching plus the xtask build.
#   bash ci/data/check_fetch.sh            # quick sources
#   bash ci/data/check_fetch.sh offline    # every offline source (glyphs, openclipart too)
set -euo pipefail
cd "$(dirname "$0")/../.."
export TASK2VEC_HOME="${TASK2VEC_HOME:-$PWD/target/task2vec-home}"
sources=("${@:-fashion-mnist animal-mnist mnist}")
# apt-get download needs the package lists.
if ! apt-cache policy dataset-fashion-mnist 2>/dev/null | grep -q "Candidate: [0-9]"; then
  apt-get update -qq
fi
for s in ${sources[*]}; do
  echo "== cargo xtask fetch $s"
  time cargo xtask fetch "$s"
done
cargo xtask fetch --list
cargo test --release -p xtask -- --ignored materialize_fetched_suites --nocapture
