#!/usr/bin/env bash
# One build for every README command: after `bash ci/test.sh` (cargo test --workspace), building
# `cargo xtask` and the fuzz harness must reuse every dependency the test build compiled. Feature
# unification or profile differences between the commands would otherwise rebuild the whole burn
# stack (minutes on 2 cores each). The check compares the artifact files (whose names carry cargo's
# unit hash) of each build with the test build's, so it holds whatever else the target directory
# already contains. Fails naming the dependencies that differ.
set -euo pipefail
cd "$(dirname "$0")/.."

# Artifact paths of the registry dependencies a cargo command builds (compiling what is missing).
dependency_artifacts() {
  cargo "$@" --locked --message-format json | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and not msg["package_id"].startswith("path+"):
        for name in msg["filenames"]:
            print(name)
' | sort -u
}

test_build=$(dependency_artifacts test --workspace --no-run)
status=0
for command in "build --package xtask" "build --workspace --bin task2vec-fuzz"; do
  # shellcheck disable=SC2086 # the command is a list of words
  other=$(dependency_artifacts $command)
  extra=$(comm -13 <(echo "$test_build") <(echo "$other"))
  if [ -n "$extra" ]; then
    echo "cargo $command builds dependencies the test build does not share:" >&2
    echo "$extra" | sed 's|.*/||; s/^/  /' >&2
    status=1
  else
    echo "one build: cargo $command reuses the test build"
  fi
done
if [ "$status" -ne 0 ]; then
  echo "compare: cargo tree -e features, and the profiles (build-override) in Cargo.toml" >&2
fi
exit "$status"
