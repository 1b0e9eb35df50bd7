#!/usr/bin/env bash
# Sharded suite runs on a real Slurm engine (issue 13): installs Debian's slurm-wlm and munge,
# starts a private one-node cluster (munged, slurmctld, slurmd in the background, no systemd; own
# munge socket and key, own slurm.conf, own ports, state and logs under a temp dir), and checks,
# with the real task2vec binary and the committed deploy/slurm files:
#   d. an unsharded `task2vec run` + `task2vec matrix` of a generated 6-task suite (store A);
#   e. deploy/slurm/submit.sh as a 3-element array + dependent merge job (store B): the merge job's
#      matrix is byte-identical to A's, every element ran and embedded its shard's tasks;
#   f. fault test (store C): one array element is SIGKILLed mid-embedding, after its shard's first
#      task is stored and while its next task runs; resubmitting the array completes the suite,
#      the matrix equals A's, every entry finished before the resubmission is untouched (same inode
#      and mtime, for the directory and each file in it), no partial entry is ever visible.
# Stops only the daemons it started (by PID), also on failure; prints the Slurm logs on failure.
#
#   bash ci/slurm/test.sh        # as root, after `bash ci/test.sh` (or cargo build -p task2vec-cli)
#
# TASK2VEC_BIN: the binary under test (default target/debug/task2vec). KEEP_WORK=1 keeps the temp
# dir. SLURM_TEST_TIMEOUT: seconds to wait for one submission (default 180).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"

t0=$(date +%s.%N)
t_prev=$t0
stamp() {
  local now
  now=$(date +%s.%N)
  awk -v a="$t0" -v b="$t_prev" -v c="$now" -v m="$*" \
    'BEGIN { printf "== [slurm test %6.1fs, previous stage %5.1fs] %s\n", c - a, c - b, m }'
  t_prev=$now
}
die() { echo "ci/slurm/test.sh: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (installs packages, starts munged as the munge user)"
TASK2VEC_BIN="$(realpath "${TASK2VEC_BIN:-target/debug/task2vec}")"
[ -x "$TASK2VEC_BIN" ] || die "no task2vec binary at $TASK2VEC_BIN (run bash ci/test.sh or cargo build -p task2vec-cli first)"
export TASK2VEC_BIN
timeout_s="${SLURM_TEST_TIMEOUT:-180}"
FLAGS=(--probe tiny-resnet --input-size 32)

# ---------------------------------------------------------------------------------------------
stamp "a. packages: slurm-wlm, munge"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
  || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
slurmctld -V
id munge >/dev/null || die "no munge user after installing munge"

# ---------------------------------------------------------------------------------------------
stamp "b. one-node cluster"
work="$(mktemp -d /tmp/task2vec-slurm.XXXXXX)"
chmod 755 "$work" # munged (user munge) must reach its socket dir inside
daemon_pids=()    # started here, stopped in reverse order on exit
cluster_up=0

dump_logs() {
  local f
  for f in "$work"/munge/munged.log "$work"/slurm/*.out "$work"/slurm/log/*.log; do
    [ -f "$f" ] || continue
    echo "----- $f (last 40 lines)"
    tail -n 40 "$f"
  done
  for f in "$work"/store-*-logs/*.out; do
    [ -f "$f" ] || continue
    echo "----- $f"
    cat "$f"
  done
}

cleanup() {
  local rc=$? i pid
  trap - EXIT
  set +e
  if [ "$cluster_up" = 1 ]; then
    # Jobs of this private cluster only (SLURM_CONF is ours): none may outlive the daemons.
    scancel --user="$(id -un)" >/dev/null 2>&1
    for _ in $(seq 20); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  if [ "$rc" != 0 ]; then
    echo "ci/slurm/test.sh: failed (exit $rc); Slurm and job logs follow" >&2
    dump_logs >&2
  fi
  for ((i = ${#daemon_pids[@]} - 1; i >= 0; i--)); do
    pid="${daemon_pids[$i]}"
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ "$rc" = 0 ] && [ -z "${KEEP_WORK:-}" ]; then
    rm -rf "$work"
  else
    echo "ci/slurm/test.sh: work dir kept: $work" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# munged as the munge user, with a key, socket, pid, seed and log of our own (the packaged
# /run/munge need not exist, and a munged already running on the machine is left alone).
mkdir -p "$work/munge"
chown munge:munge "$work/munge"
chmod 755 "$work/munge"
sock="$work/munge/munge.socket"
if command -v mungekey >/dev/null; then
  setpriv --reuid=munge --regid=munge --init-groups mungekey --create --keyfile="$work/munge/munge.key"
else # munge < 0.5.14
  dd if=/dev/urandom of="$work/munge/munge.key" bs=1 count=1024 status=none
  chown munge:munge "$work/munge/munge.key"
  chmod 600 "$work/munge/munge.key"
fi
setpriv --reuid=munge --regid=munge --init-groups munged --foreground --socket="$sock" \
  --key-file="$work/munge/munge.key" --pid-file="$work/munge/munged.pid" \
  --seed-file="$work/munge/munged.seed" --log-file="$work/munge/munged.log" \
  >"$work/munge/munged.out" 2>&1 &
daemon_pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
munge -S "$sock" -n | unmunge -S "$sock" >/dev/null || die "munged does not answer on $sock"

# Two free TCP ports for slurmctld and slurmd.
read -r ctld_port slurmd_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')

mkdir -p "$work/slurm/state" "$work/slurm/spool" "$work/slurm/log"
node_line="$(slurmd -C | head -n 1)" # NodeName=<host> CPUs=... RealMemory=...
node="$(echo "$node_line" | sed -n 's/^NodeName=\([^ ]*\).*/\1/p')"
[ -n "$node" ] || die "cannot read the node line of slurmd -C: $node_line"
cpus="$(echo "$node_line" | sed -n 's/.* CPUs=\([0-9]*\).*/\1/p')"
export SLURM_CONF="$work/slurm/slurm.conf"
cat >"$SLURM_CONF" <<EOF
# Written by ci/slurm/test.sh: a private one-node cluster.
ClusterName=task2vec-ci
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$work/slurm/state
SlurmdSpoolDir=$work/slurm/spool
SlurmctldPidFile=$work/slurm/slurmctld.pid
SlurmdPidFile=$work/slurm/slurmd.pid
SlurmctldLogFile=$work/slurm/log/slurmctld.log
SlurmdLogFile=$work/slurm/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=5
KillWait=5
InactiveLimit=0
SlurmdTimeout=60
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
# -D: stay in the foreground (we hold the PID); PMIx plugin load errors on stderr are noise.
slurmctld -D -i >"$work/slurm/slurmctld.out" 2>&1 &
daemon_pids+=($!)
slurmd -D -N "$node" >"$work/slurm/slurmd.out" 2>&1 &
daemon_pids+=($!)
cluster_up=1
state=""
for _ in $(seq 60); do
  state="$(sinfo -h -N -o %t 2>/dev/null || true)"
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || die "node $node not idle after 30 s (sinfo: '$state')"
echo "cluster up: node $node, $cpus cpus, slurmctld :$ctld_port, slurmd :$slurmd_port, conf $SLURM_CONF"

# ---------------------------------------------------------------------------------------------
stamp "c. suite: 6 ImageFolder datasets (16x16 PNG)"
python3 ci/slurm/make_suite.py "$work/suite"
suite="$work/suite/suite.toml"
export TASK2VEC_HOME="$work/home"
mkdir -p "$TASK2VEC_HOME"
mapfile -t all_ids < <(sed -n 's/^id = "\(.*\)"$/\1/p' "$suite")
[ "${#all_ids[@]}" = 6 ] || die "suite has ${#all_ids[@]} tasks, expected 6"

# "digest task-id" of each finished entry of a store (task.id read from its key.json).
entry_ids() {
  python3 - "$1" <<'EOF'
import json, sys
from pathlib import Path
d = Path(sys.argv[1]) / "entries"
ids = []
for e in sorted(d.iterdir()) if d.is_dir() else []:
    try:
        ids.append(e.name + " " + json.loads((e / "key.json").read_text())["task"]["id"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        sys.exit(f"entry {e}: no task.id in key.json ({err!r})")
print("\n".join(sorted(ids)))
EOF
}

# Every entry visible in STORE/entries is complete: a 64-hex name with key.json + embedding.json.
check_entries() {
  local e n=0
  for e in "$1"/entries/*; do
    [ -e "$e" ] || continue
    n=$((n + 1))
    [[ "$(basename "$e")" =~ ^[0-9a-f]{64}$ ]] || die "unexpected name in $1/entries: $(basename "$e")"
    if [ ! -s "$e/key.json" ] || [ ! -s "$e/embedding.json" ]; then
      die "partial entry visible: $e ($(ls "$e"))"
    fi
  done
  echo "$n"
}

# "task-id digest" of every task of shard I/N of a complete store (`task2vec run --status`).
shard_entries() {
  "$TASK2VEC_BIN" run "$suite" --store "$1" --status --shard "$2" "${FLAGS[@]}" 2>/dev/null \
    | awk '$1 == "done" { n = split($3, p, "/"); print $2, p[n] } $1 == "missing" || $1 == "failed" { print $2, "-" }'
}

# Waits until none of the given job ids (array or plain) is queued or running.
wait_jobs() {
  local deadline=$(($(date +%s) + timeout_s)) pattern
  pattern="^($(echo "$*" | tr ' ' '|'))$"
  while squeue -h -r -o %F | grep -Eq "$pattern"; do
    [ "$(date +%s)" -lt "$deadline" ] || { squeue; die "jobs $* still queued after ${timeout_s}s"; }
    sleep 0.5
  done
}

submit() { # STORE -> sets array_id, merge_id
  local out
  out="$(TASK2VEC_FLAGS="${FLAGS[*]}" TASK2VEC_RUN_FLAGS="" \
    bash deploy/slurm/submit.sh "$suite" "$1" 3 -- --cpus-per-task=1 --time=00:10:00)"
  array_id="$(echo "$out" | sed -n 's/^ARRAY_JOB_ID=//p')"
  merge_id="$(echo "$out" | sed -n 's/^MERGE_JOB_ID=//p')"
  if [ -z "$array_id" ] || [ -z "$merge_id" ]; then die "submit.sh printed no job ids: $out"; fi
}

# ---------------------------------------------------------------------------------------------
stamp "d. unsharded run (store A)"
storeA="$work/store-A"
"$TASK2VEC_BIN" run "$suite" --store "$storeA" "${FLAGS[@]}" --quiet
"$TASK2VEC_BIN" matrix --store "$storeA" --suite "$suite" "${FLAGS[@]}" --out "$work/A.csv"
[ -s "$work/A.csv" ] || die "no matrix A.csv"
[ "$(check_entries "$storeA")" = 6 ] || die "store A does not hold 6 entries"
echo "A.csv: $(wc -l <"$work/A.csv") lines"

# Shard map (the binary's own, task -> shard of 3; every task in exactly one shard) and each
# task's digest (its entry's name: content-addressed, the same in every store of this suite).
declare -A shard_of=() digest_of=()
for i in 0 1 2; do
  ids=()
  while read -r id digest; do
    [ "$digest" != - ] || die "task $id is not done in store A"
    [ -z "${shard_of[$id]:-}" ] || die "task $id in shards ${shard_of[$id]} and $i"
    shard_of[$id]=$i
    digest_of[$id]=$digest
    ids+=("$id")
  done < <(shard_entries "$storeA" "$i/3")
  [ "${#ids[@]}" -ge 1 ] || die "shard $i/3 has no task"
  echo "shard $i/3: ${ids[*]}"
done
[ "${#shard_of[@]}" = 6 ] || die "the 3 shards hold ${#shard_of[@]} tasks, expected 6"
# key.json names the task (task.id) its entry holds.
for id in "${!digest_of[@]}"; do echo "${digest_of[$id]} $id"; done | sort >"$work/A-digests.txt"
entry_ids "$storeA" | sort | cmp -s - "$work/A-digests.txt" \
  || die "store A's key.json task ids do not match --status: $(entry_ids "$storeA")"

# ---------------------------------------------------------------------------------------------
stamp "e. Slurm: 3-element array + merge job (store B)"
storeB="$work/store-B"
submit "$storeB"
echo "array job $array_id, merge job $merge_id"
wait_jobs "$array_id" "$merge_id"
[ -f "$storeB/matrix.csv" ] || die "the merge job wrote no $storeB/matrix.csv"
cmp "$work/A.csv" "$storeB/matrix.csv" || { diff "$work/A.csv" "$storeB/matrix.csv" | head -20; die "sharded matrix differs from the unsharded one"; }
[ "$(check_entries "$storeB")" = 6 ] || die "store B does not hold 6 entries"
for i in 0 1 2; do
  log="$storeB-logs/run-${array_id}_$i.out"
  [ -f "$log" ] || die "no log of array element $i ($log)"
  grep -q "exit status 0" "$log" || die "array element $i did not exit 0 ($log)"
  grep -q "element $i " "$log" || die "log $log is not element $i's"
  # Store B started empty, so each element embedded every task of its shard.
  n=0
  for id in "${!shard_of[@]}"; do
    [ "${shard_of[$id]}" = "$i" ] || continue
    grep -qF "$id: embedded" "$log" && n=$((n + 1))
  done
  [ "$n" -ge 1 ] || die "array element $i's log names no task of its shard ($log)"
  echo "array element $i: ran, embedded $n task(s)"
done
grep -q "wrote $storeB/matrix.csv" "$storeB-logs/merge-$merge_id.out" || die "merge log incomplete"
[ "$(ls "$storeB/entries")" = "$(ls "$storeA/entries")" ] || die "stores A and B hold different entries"

# ---------------------------------------------------------------------------------------------
stamp "f. fault test: SIGKILL one element mid-embedding, resubmit (store C)"
# Victim: an element whose shard has >= 2 tasks, among the first two elements (two run at once on
# a 2-cpu node). It is killed once its shard's first task is stored, while the next one runs.
victim=""
for i in 0 1; do
  n=0
  for id in "${!shard_of[@]}"; do [ "${shard_of[$id]}" = "$i" ] && n=$((n + 1)); done
  if [ "$n" -ge 2 ]; then victim=$i; break; fi
done
[ -n "$victim" ] || die "no shard among 0/3, 1/3 has 2 tasks: cannot kill an element mid-shard"
victim_digests=()
for id in "${!shard_of[@]}"; do
  [ "${shard_of[$id]}" = "$victim" ] && victim_digests+=("${digest_of[$id]}")
done
# Number of the victim's tasks stored in store C.
victim_done() {
  local d n=0
  for d in "${victim_digests[@]}"; do [ -d "$storeC/entries/$d" ] && n=$((n + 1)); done
  echo "$n"
}
attempt=0
while :; do
  attempt=$((attempt + 1))
  [ "$attempt" -le 3 ] || die "3 attempts, the victim always finished its shard before it could be killed"
  storeC="$work/store-C$attempt"
  submit "$storeC"
  victim_job="${array_id}_$victim"
  echo "attempt $attempt: array job $array_id, merge job $merge_id, victim $victim_job" \
    "(${#victim_digests[@]} tasks)"
  # Poll the store (cheap: directory tests) until the victim's first task is stored, then its
  # log until the next task has cached its activations (it is in the head fit / Fisher stage
  # then), at most 0.4 s; kill then.
  killed="" first_seen="" deadline=$(($(date +%s) + timeout_s))
  vlog="$storeC-logs/run-$victim_job.out"
  while [ "$(date +%s)" -lt "$deadline" ]; do
    n="$(victim_done)"
    [ "$n" -lt "${#victim_digests[@]}" ] || break
    if [ "$n" -ge 1 ]; then
      [ -n "$first_seen" ] || first_seen=$(date +%s%N)
      if [ "$(grep -c '^caching activations' "$vlog" 2>/dev/null)" -ge 2 ] \
        || [ $(($(date +%s%N) - first_seen)) -gt 400000000 ]; then
        scancel --full --signal=KILL "$victim_job" && killed=1
        break
      fi
    fi
    sleep 0.02
  done
  [ "$(date +%s)" -lt "$deadline" ] || die "the victim $victim_job stored nothing within ${timeout_s}s"
  find "$storeC/entries" -mindepth 1 -printf '%P %i %T@\n' | sort >"$work/C-at-kill.txt"
  at_kill="$(check_entries "$storeC")"
  wait_jobs "$array_id" "$merge_id"
  missing_now=$((${#victim_digests[@]} - $(victim_done)))
  if [ -z "$killed" ] || [ "$missing_now" = 0 ]; then
    echo "attempt $attempt: the victim finished its shard before the kill landed; retrying"
    continue
  fi
  victim_jobid="$(sed -n 's/^task2vec-run: job \([0-9]*\) .*/\1/p' "$storeC-logs/run-$victim_job.out")"
  echo "killed $victim_job (job $victim_jobid) with $n of its ${#victim_digests[@]} tasks stored" \
    "($at_kill entries in the store then); its log ends:"
  tail -n 3 "$storeC-logs/run-$victim_job.out" | sed 's/^/    /'
  # No process of the killed job is left (proctrack/linuxproc signalled them all).
  for p in /proc/[0-9]*; do
    if grep -qzx "SLURM_JOB_ID=$victim_jobid" "$p/environ" 2>/dev/null; then
      die "process ${p#/proc/} of the killed job $victim_jobid is still alive: $(tr '\0' ' ' <"$p/cmdline")"
    fi
  done
  grep -q "exit status 0" "$storeC-logs/run-$victim_job.out" && die "the killed element reported exit status 0"
  break
done
[ ! -e "$storeC/matrix.csv" ] || die "the first merge job wrote a matrix although a task was missing"
grep -q "task2vec-merge: no matrix" "$storeC-logs/merge-$merge_id.out" \
  || die "the first merge job did not report the missing task"
n_before="$(check_entries "$storeC")"
find "$storeC/entries" -mindepth 1 -printf '%P %i %T@\n' | sort >"$work/C-before.txt"
echo "round 1 over: $n_before of 6 entries, $missing_now of the victim's tasks missing;" \
  "$(find "$storeC/.tmp" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) leftover(s) in $storeC/.tmp"

first_array=$array_id
submit "$storeC"
echo "resubmitted: array job $array_id, merge job $merge_id"
wait_jobs "$array_id" "$merge_id"
[ -f "$storeC/matrix.csv" ] || die "the resubmission's merge job wrote no matrix"
cmp "$work/A.csv" "$storeC/matrix.csv" || { diff "$work/A.csv" "$storeC/matrix.csv" | head -20; die "matrix after the fault differs from the unsharded one"; }
[ "$(check_entries "$storeC")" = 6 ] || die "store C does not hold 6 entries after the resubmission"
find "$storeC/entries" -mindepth 1 -printf '%P %i %T@\n' | sort >"$work/C-after.txt"
if ! comm -23 "$work/C-before.txt" "$work/C-after.txt" >"$work/C-changed.txt" || [ -s "$work/C-changed.txt" ]; then
  echo "entries (path inode mtime) finished before the resubmission that changed or vanished:" >&2
  cat "$work/C-changed.txt" >&2
  die "the resubmission touched finished entries"
fi
comm -23 "$work/C-at-kill.txt" "$work/C-after.txt" | grep -q . && die "entries stored before the kill changed"
new=$(($(check_entries "$storeC") - n_before))
[ "$new" = $((6 - n_before)) ] || die "resubmission added $new entries, expected $((6 - n_before))"
[ -z "$(ls -A "$storeC/failed" 2>/dev/null)" ] || die "store C has failed tasks: $(ls "$storeC/failed")"
echo "resubmission of array $first_array as $array_id: suite complete, $new entries computed," \
  "$n_before finished entries untouched (inode, mtime), matrix identical"

stamp "ok: sharded Slurm runs match the unsharded run; a killed element is resumed, nothing recomputed"
