#!/usr/bin/env python3
"""Golden values for task2vec-embedding's distances, written independently of the Rust code.

The definitions transcribe REF's `task_similarity.py` (see docs/reference.md §6) on top
of SciPy's `cosine` / `correlation` and `scipy.special.xlogy`; the asymmetric distance is the
paper's d_asym(a -> b) = d_sym(a, b) - alpha * d_sym(a, t0) with d_sym = `cosine`.

Writes small fixtures to crates/embedding/tests/fixtures/distances/:
  e{i}.npy          hessians (float64; e5 stored as float32 to test widening)
  s{i}.npy          prior precisions of the embeddings that have one (e3, e4, e5)
  layout.json       the layer layout all embeddings share
  trivial.npy       a caller-supplied trivial embedding (hessian) for embeddings without prior
  <metric>.csv      pdist matrices (REF semantics: zero diagonal for symmetric metrics)
  asym_trivial.csv  d_asym with t0 = trivial.npy for every embedding, alpha = 0.15
  asym_prior.csv    d_asym among e3..e5 with t0 = their own prior (hessian := scale)
  complexity.csv    L1 norm and d_sym(e, t0) per embedding (t0 as for asym_trivial)

Run: python ci/golden/distances.py   (numpy, scipy; deterministic: seeded)
"""
import csv
import json
import math
from pathlib import Path

import numpy as np
from scipy.spatial import distance as ssd
from scipy.special import xlogy

OUT = Path(__file__).resolve().parents[2] / "crates/embedding/tests/fixtures/distances"
EPS = 1e-8
ALPHA = 0.15
LAYOUT = [{"name": "conv1", "filters": 150}, {"name": "layer1.0.conv1", "filters": 330},
          {"name": "layer1.0.bn1", "filters": 120}]
DIM = sum(s["filters"] for s in LAYOUT)  # 600: two 512-chunks with a ragged tail


def variance(h, s=None, normalized=False):
    var = 1.0 / h
    if normalized:
        var = var / (1.0 / s)
    return var


def scaled(h0, h1):
    return h0 / (h0 + h1 + EPS), h1 / (h0 + h1 + EPS)


def kl(e0, e1):
    v0, v1 = variance(e0[0]), variance(e1[0])
    k0 = 0.5 * (v0 / v1 - 1 + np.log(v1) - np.log(v0))
    k1 = 0.5 * (v1 / v0 - 1 + np.log(v0) - np.log(v1))
    return np.maximum(k0, k1).sum()


def asymmetric_kl(e0, e1):
    v0, v1 = variance(e0[0]), variance(e1[0])
    return (0.5 * (v0 / v1 - 1 + np.log(v1) - np.log(v0))).sum()


def jsd(e0, e1):
    v0, v1 = variance(e0[0]), variance(e1[0])
    v = 0.5 * (v0 + v1)
    k0 = 0.5 * (v0 / v - 1 + np.log(v) - np.log(v0))
    k1 = 0.5 * (v1 / v - 1 + np.log(v) - np.log(v1))
    return (0.5 * (k0 + k1)).mean()


def cosine(e0, e1):
    return ssd.cosine(*scaled(e0[0], e1[0]))


def normalized_cosine(e0, e1):
    return ssd.cosine(variance(*e0, normalized=True), variance(*e1, normalized=True))


def correlation(e0, e1):
    return ssd.correlation(variance(e0[0]), variance(e1[0]))


def entropy(e0, e1):
    p, _ = scaled(e0[0], e1[0])
    return math.log(2) - (-(xlogy(p, p) + xlogy(1 - p, 1 - p))).mean()


METRICS = {"kl": kl, "asymmetric-kl": asymmetric_kl, "jsd": jsd, "cosine": cosine,
           "normalized-cosine": normalized_cosine, "correlation": correlation, "entropy": entropy}


def pdist(embs, fn, symmetric=True):
    n = len(embs)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if symmetric and j <= i:
                continue
            d[i, j] = fn(embs[i], embs[j])
    if symmetric:
        d = d + d.T
    return d


def write_csv(path, labels, m):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([""] + labels)
        for lab, row in zip(labels, m):
            w.writerow([lab] + [repr(float(x)) for x in row])


def main():
    rng = np.random.default_rng(20190224)
    OUT.mkdir(parents=True, exist_ok=True)
    embs, names = [], []
    for i in range(6):
        # Log-uniform Fisher values over several decades, around REF's Monte-Carlo scale
        # (~1e-8 .. 1e-3) for some tasks so that eps matters, larger for others.
        lo, hi = [(-9, -4), (-7, -3), (-3, 1), (-2, 2), (-6, -1), (-4, 0)][i]
        h = 10.0 ** rng.uniform(lo, hi, DIM)
        if i == 2:
            # A near neighbour of e1, so that some distances are small.
            h = embs[1][0] * 10.0 ** rng.uniform(-0.1, 0.1, DIM)
        s = 10.0 ** rng.uniform(-1, 1, DIM) if i >= 3 else np.ones(DIM)
        if i == 5:
            h = h.astype(np.float32)
            np.save(OUT / f"e{i}.npy", h)
            h = h.astype(np.float64)  # the Rust side widens float32 exactly like this
        else:
            np.save(OUT / f"e{i}.npy", h)
        if i >= 3:
            np.save(OUT / f"s{i}.npy", s)
        embs.append((h, s))
        names.append(f"e{i}")
    (OUT / "layout.json").write_text(json.dumps(LAYOUT) + "\n")
    trivial = 10.0 ** rng.uniform(-5, 0, DIM)
    np.save(OUT / "trivial.npy", trivial)

    for name, fn in METRICS.items():
        write_csv(OUT / f"{name}.csv", names, pdist(embs, fn, symmetric=name != "asymmetric-kl"))

    t0 = (trivial, np.ones(DIM))
    asym = np.array([[cosine(a, b) - ALPHA * cosine(a, t0) for b in embs] for a in embs])
    write_csv(OUT / "asym_trivial.csv", names, asym)
    prior = embs[3:]
    asym_p = np.array([[cosine(a, b) - ALPHA * cosine(a, (a[1], np.ones(DIM))) for b in prior]
                       for a in prior])
    write_csv(OUT / "asym_prior.csv", names[3:], asym_p)

    with open(OUT / "complexity.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["name", "l1", "l1_conv1", "d_sym_trivial"])
        for n_, e in zip(names, embs):
            w.writerow([n_, repr(float(np.abs(e[0]).sum())), repr(float(np.abs(e[0][:150]).sum())),
                        repr(float(cosine(e, t0)))])


if __name__ == "__main__":
    main()
