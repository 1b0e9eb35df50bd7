#!/usr/bin/env python3
"""Writes the benchmark task of issue 4 as an ImageFolder: the first PER_CLASS Fashion-MNIST
training images of each of the first four classes (T-shirt/top, Trouser, Pullover, Dress), as
PNGs, so that the Rust pipeline and ci/fisher/bench_torch.py read exactly the same files.

usage: make_bench_folder.py FASHION_MNIST_DIR OUT_DIR [--per-class 250]
FASHION_MNIST_DIR is what `cargo xtask fetch fashion-mnist` writes (IDX files + classes.txt).
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=250)
    a = ap.parse_args()
    images = read_idx(os.path.join(a.src, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(a.src, "train-labels-idx1-ubyte.gz"))
    names = open(os.path.join(a.src, "classes.txt")).read().split("\n")
    for c in range(4):
        folder = os.path.join(a.out, names[c].replace("/", "-"))
        os.makedirs(folder, exist_ok=True)
        for j, i in enumerate(np.flatnonzero(labels == c)[: a.per_class]):
            Image.fromarray(images[i]).save(os.path.join(folder, f"{i:05d}.png"))
    print(f"wrote {4 * a.per_class} images to {a.out}")


if __name__ == "__main__":
    main()
