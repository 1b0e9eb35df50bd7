#!/usr/bin/env bash
# System packages the build and tests need. Idempotent; safe to run on a fresh machine.
set -euo pipefail
need=()
# Plots render text with a system TrueType font.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
