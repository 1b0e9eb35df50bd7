#!/usr/bin/env bash
# Runs the cells of ci/fidelity/cells.txt (or those named as arguments) with `cargo xtask
# reproduce`, each into target/fidelity/<cell>, skipping cells whose summary.json exists, then
# tabulates every finished cell (ci/fidelity/collect.py > target/fidelity/table.md).
# Usage: bash ci/fidelity/study.sh [CELL...]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/fidelity
mkdir -p "$out"
grep -v '^#' ci/fidelity/cells.txt | while IFS='|' read -r name suite flags; do
  name=$(echo "$name" | xargs); suite=$(echo "$suite" | xargs); flags=$(echo "$flags" | xargs)
  [ -z "$name" ] && continue
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  if [ -s "$out/$name/$suite/summary.json" ]; then echo "== $name: done"; continue; fi
  echo "== $name: cargo xtask reproduce --suite $suite --out $out/$name $flags"
  start=$(date +%s)
  # shellcheck disable=SC2086
  cargo xtask reproduce --suite "$suite" --out "$out/$name" $flags > "$out/$name.log" 2>&1 < /dev/null \
    || { echo "   failed, see $out/$name.log"; continue; }
  echo "   $(( $(date +%s) - start )) s"
done
python3 ci/fidelity/collect.py "$out" > "$out/table.md"
echo "wrote $out/table.md"
