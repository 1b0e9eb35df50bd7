"""Writes crates/probe/src/imagenet_classes.txt: the 1,000 ILSVRC-2012 class names, one per
line, in the standard class-index order (sorted WordNet IDs).

Source: Debian package `darknet` (/usr/share/darknet/data/imagenet.{labels,shortnames}.list;
license "GPL-3.0+ or MIT or WTFPL", used under MIT). The first 1,000 entries of those lists
are the ILSVRC-1k synsets; sorting them by WordNet ID gives the index order PyTorch and TF use.

Run: TASK2VEC_TEST_ASSETS=dir python3 ci/probe/make_imagenet_labels.py  (after fetch_test_assets.sh)
"""
import os



assets = os.environ["TASK2VEC_TEST_ASSETS"]
with open(os.path.join(assets, "imagenet.labels.list")) as f:
    wnids = [line.strip() for line in f][:1000]
with open(os.path.join(assets, "imagenet.shortnames.list")) as f:
    names = [line.strip() for line in f][:1000]
pairs = sorted(zip(wnids, names))
assert len(set(wnids)) == 1000
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "probe", "src", "imagenet_classes.txt")
with open(out, "w") as f:
    for _, name in pairs:
        f.write(name + "\n")
print("class 22:", pairs[22], "class 235:", pairs[235])
