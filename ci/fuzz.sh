#!/usr/bin/env bash
# Fuzzes every reader of outside bytes for a bounded time and fails on any finding
# (fuzz/README.md). Usage: bash ci/fuzz.sh [SECONDS_PER_TARGET]   (default 25)
# The seed is printed; FUZZ_SEED=N repeats a run's inputs exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-25}"
seed="${FUZZ_SEED:-$(date +%s)}"

# Built with the whole workspace, so that burn's features unify as in every other build
# (a `-p task2vec-fuzz` build would rebuild the burn stack).
cargo build --workspace --locked --bin task2vec-fuzz
fuzz=target/debug/task2vec-fuzz

# The committed seed corpus is what the generators make.
"$fuzz" corpus --check

# The harness catches each kind of finding and saves its input (a fuzzer that cannot fail
# proves nothing).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for kind in panic abort alloc violation truncation; do
    if "$fuzz" --seconds 1 --seed 0 --artifacts "$scratch" "selftest-$kind" >"$scratch/log" 2>&1; then
        cat "$scratch/log"
        echo "ci/fuzz.sh: the harness did not catch selftest-$kind" >&2
        exit 1
    fi
    if ! ls -d "$scratch/selftest-$kind"/*/files >/dev/null 2>&1; then
        cat "$scratch/log"
        echo "ci/fuzz.sh: selftest-$kind's input was not saved" >&2
        exit 1
    fi
done

# The harness caps single allocations; this bounds the total.
ulimit -v 8000000
"$fuzz" --seconds "$seconds" --seed "$seed" --jobs 2
