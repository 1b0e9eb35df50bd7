#!/usr/bin/env python3
"""Golden values for task2vec-embedding's statistics and taxonomy metric (SciPy / numpy).

Writes crates/embedding/tests/fixtures/stats.json:
  pearson / spearman of samples with ties (scipy.stats.pearsonr / spearmanr);
  classical MDS (numpy eigh of the double-centred -D^2/2) of a Euclidean distance matrix, top 2
  axes, each axis signed so that its largest-magnitude coordinate is positive;
  REF's "average top-k taxonomic distance" (plot_distance_cub_inat.py, REFERENCE.md §8) of a
  random ties-free distance matrix against a random 4-rank taxonomy, for several k, computed
  with numpy argsort after setting the diagonal to +inf.
Run: python ci/golden/stats.py
"""
import json
from pathlib import Path

import numpy as np
from scipy import stats

OUT = Path(__file__).resolve().parents[2] / "crates/embedding/tests/fixtures/stats.json"


def main():
    rng = np.random.default_rng(7)
    x = np.round(rng.normal(size=40), 1)  # rounding creates ties
    y = np.round(x + rng.normal(size=40), 1)
    n = 24
    d = rng.uniform(0, 1, (n, n))
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0)
    # lineage from finest to coarsest rank: order, class, phylum, kingdom
    kingdom = rng.integers(0, 2, n)
    phylum = kingdom * 10 + rng.integers(0, 2, n)
    klass = phylum * 10 + rng.integers(0, 2, n)
    order = klass * 10 + rng.integers(0, 2, n)
    lineages = [[f"o{o}", f"c{c}", f"p{p}", f"k{k}"] for o, c, p, k in zip(order, klass, phylum, kingdom)]
    tax = np.array([[next((r for r in range(4) if a[r] == b[r]), 4) for b in lineages] for a in lineages],
                   dtype=float)
    top_k = {}
    for k in (1, 3, 5, 10, n - 1):
        dd = d.copy()
        np.fill_diagonal(dd, np.inf)
        idx = np.argsort(dd, axis=1)[:, :k]
        top_k[str(k)] = float(np.mean([tax[i, idx[i]].mean() for i in range(n)]))
    pts = rng.normal(size=(15, 3)) * np.array([5.0, 2.0, 0.5])
    dm = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    j = np.eye(15) - 1.0 / 15
    b = -0.5 * j @ (dm ** 2) @ j
    w, v = np.linalg.eigh(b)
    top = np.argsort(w)[::-1][:2]
    coords = v[:, top] * np.sqrt(w[top])
    for k in range(2):
        if coords[np.argmax(np.abs(coords[:, k])), k] < 0:
            coords[:, k] *= -1
    OUT.write_text(json.dumps({
        "mds_distances": dm.tolist(), "mds_coords": coords.tolist(),
        "x": x.tolist(), "y": y.tolist(),
        "pearson": float(stats.pearsonr(x, y)[0]),
        "spearman": float(stats.spearmanr(x, y)[0]),
        "distances": d.tolist(), "lineages": lineages, "taxonomy": tax.tolist(),
        "top_k": top_k,
    }) + "\n")


if __name__ == "__main__":
    main()
