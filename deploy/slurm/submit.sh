#!/usr/bin/env bash
# Submits a Task2Vec suite run to Slurm: the job array deploy/slurm/run-suite.sbatch
# (--array=0-(N_SHARDS-1), one shard of the suite's tasks per element) and the merge/report job
# deploy/slurm/merge-suite.sbatch with --dependency=afterany:<array job id>.
#
#   deploy/slurm/submit.sh SUITE STORE [N_SHARDS] [-- SBATCH_OPTION...]
#
# N_SHARDS defaults to 4. SBATCH_OPTIONs go to both sbatch calls (e.g. --partition=cpu
# --time=2:00:00 --cpus-per-task=8). The environment is passed to both jobs: set TASK2VEC_FLAGS,
# TASK2VEC_RUN_FLAGS, TASK2VEC_BIN, TASK2VEC_HOME as described in run-suite.sbatch. Logs go to
# LOG_DIR (default STORE-logs, next to the store: task2vec accepts as a store only an empty or new
# directory or an existing store): run-<array job>_<element>.out and merge-<job>.out.
# Prints, on stdout, ARRAY_JOB_ID=<id> and MERGE_JOB_ID=<id>.
#
# Running the same command again after a failure, a timeout or a cancelled element completes the
# suite: the store skips every finished task.
set -euo pipefail

usage() { echo "usage: $0 SUITE STORE [N_SHARDS] [-- SBATCH_OPTION...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
suite="$1" store="$2"
shift 2
shards=4
if [ $# -gt 0 ] && [ "$1" != "--" ]; then shards="$1"; shift; fi
if [ $# -gt 0 ]; then [ "$1" = "--" ] || usage; shift; fi
case "$shards" in '' | *[!0-9]* | 0) echo "$0: N_SHARDS must be a positive integer, got '$shards'" >&2; exit 2 ;; esac
[ -f "$suite" ] || { echo "$0: no suite file $suite" >&2; exit 2; }

here="$(cd "$(dirname "$0")" && pwd)"
# Jobs start in the submission directory, maybe on another node: pass absolute paths.
SUITE="$(realpath "$suite")"
STORE="$(realpath -m "$store")"
LOG_DIR="$(realpath -m "${LOG_DIR:-${STORE%/}-logs}")"
export SUITE STORE
mkdir -p "$LOG_DIR"

array_id="$(sbatch --parsable --array="0-$((shards - 1))" --output="$LOG_DIR/run-%A_%a.out" \
  "$@" "$here/run-suite.sbatch")"
array_id="${array_id%%;*}"
merge_id="$(sbatch --parsable --dependency="afterany:$array_id" --kill-on-invalid-dep=yes \
  --output="$LOG_DIR/merge-%j.out" "$@" "$here/merge-suite.sbatch")"
merge_id="${merge_id%%;*}"

echo "submitted array job $array_id ($shards shards of $SUITE into $STORE) and merge job" \
  "$merge_id; logs in $LOG_DIR; the matrix will be $STORE/matrix.csv" >&2
echo "ARRAY_JOB_ID=$array_id"
echo "MERGE_JOB_ID=$merge_id"
