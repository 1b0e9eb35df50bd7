#!/usr/bin/env bash
# System packages the build and tests need. Idempotent; safe to run on a fresh machine (as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# Package lists are needed anyway: ci/probe/fetch_test_assets.sh runs `apt-get download darknet`.
apt-get update -qq
need=()
# Plots render text from a system TrueType file (TASK2VEC_FONT or DejaVu Sans).
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v unzip >/dev/null || need+=(unzip)
command -v dpkg-deb >/dev/null || need+=(dpkg)
# ci/k8s/validate.sh makes a venv (Debian's python3 lacks ensurepip without python3-venv).
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq "${need[@]}"
fi
python3 -m pip --version >/dev/null
