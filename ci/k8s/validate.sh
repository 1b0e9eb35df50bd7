#!/usr/bin/env bash
# Offline validation of deploy/k8s/run-suite.yaml (issue 13):
#   1. every object against the OpenAPI schemas of a pinned Kubernetes version, strictly (unknown
#      fields rejected; a warning such as an unknown kind counts as a failure), with PyPI's
#      kubernetes-validate, which ships the schemas (installed into a venv under target/);
#   2. ci/k8s/check_manifest.py: what a schema cannot say (completionMode is Indexed, completions
#      == parallelism == --shards, volumes/claims/ConfigMap defined, same image in both Jobs, the
#      stage labels `kubectl apply -l` selects on, the suite parses);
#   3. that it can fail: broken copies (a misspelt field, a wrong type, `completionMode: Indexd`,
#      --shards out of step with completions) must each be rejected.
#
#   bash ci/k8s/validate.sh [MANIFEST]
#
# K8S_VERSION (default 1.33.0: backoffLimitPerIndex is GA there) picks the schemas;
# KUBERNETES_VALIDATE_VENV the venv (default target/kubernetes-validate-venv, reused).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
manifest="${1:-deploy/k8s/run-suite.yaml}"
k8s="${K8S_VERSION:-1.33.0}"
kv_pin="kubernetes-validate==1.37.0" # ships schemas for Kubernetes 1.5 ... 1.37
venv="${KUBERNETES_VALIDATE_VENV:-$repo/target/kubernetes-validate-venv}"
start=$(date +%s)

installed="$("$venv/bin/python" -m pip show kubernetes-validate 2>/dev/null || true)"
if ! grep -qx "Version: ${kv_pin#*==}" <<<"$installed"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$kv_pin"
fi
kv="$venv/bin/kubernetes-validate"
py="$venv/bin/python"
echo "kubernetes-validate $("$kv" --version 2>&1 | tail -n 1), schemas of Kubernetes $k8s, strict"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# validate FILE [all]: 0 when the schema validation and the consistency checks pass, else 1.
# Prints the validator's WARN/ERROR lines (every line with `all`) and the failed checks.
validate() {
  local out ok=0 docs passed
  out="$("$kv" --kubernetes-version "$k8s" --strict "$1" 2>&1)" || ok=1
  if [ "${2:-}" = all ]; then
    grep '' <<<"$out" | sed 's/^/  /'
  else
    grep -v '^INFO' <<<"$out" | sed 's/^/  /' || true
  fi
  grep -Eq '^(WARN|ERROR)' <<<"$out" && ok=1
  docs="$("$py" -c 'import sys, yaml; print(sum(d is not None for d in yaml.safe_load_all(open(sys.argv[1]))))' "$1")"
  passed="$(grep -c '^INFO .* passed for resource' <<<"$out" || true)"
  if [ "$passed" != "$docs" ]; then
    echo "  $passed of $docs objects passed the schema validation"
    ok=1
  fi
  if ! "$py" ci/k8s/check_manifest.py "$1" >"$tmp/checks.txt" 2>&1; then ok=1; fi
  if [ "$ok" = 0 ]; then echo "  $(grep -c '^ok' "$tmp/checks.txt") consistency checks passed"; else grep -v '^ok' "$tmp/checks.txt" | sed 's/^/  /'; fi
  return "$ok"
}

echo "== $manifest"
validate "$manifest" all || { echo "ci/k8s/validate.sh: FAIL: $manifest is not valid for Kubernetes $k8s" >&2; exit 1; }

# Each broken copy must be rejected (sed expression, what it breaks).
broken=(
  's/backoffLimitPerIndex:/backoffLimitPerIndx:/|misspelt field (strict schema)'
  's/parallelism: 3/parallelism: three/|wrong type (schema)'
  's/completionMode: Indexed/completionMode: Indexd/|completionMode: Indexd (the schema has no enum for it: consistency check)'
  's/"--shards", "3"/"--shards", "4"/|--shards out of step with completions (consistency check)'
)
for b in "${broken[@]}"; do
  expr="${b%%|*}" what="${b#*|}"
  sed "$expr" "$manifest" >"$tmp/broken.yaml"
  cmp -s "$manifest" "$tmp/broken.yaml" && { echo "ci/k8s/validate.sh: FAIL: '$expr' changes nothing in $manifest" >&2; exit 1; }
  echo "== broken copy, $what: must be rejected"
  if validate "$tmp/broken.yaml"; then
    echo "ci/k8s/validate.sh: FAIL: a broken copy ($what) passed validation" >&2
    exit 1
  fi
  echo "  rejected, as it must be"
done
echo "ci/k8s/validate.sh: ok: $manifest valid for Kubernetes $k8s (strict); ${#broken[@]} broken copies rejected ($(($(date +%s) - start)) s)"
