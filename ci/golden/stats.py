#!/usr/bin/env python3
"""Golden values for task2vec-embedding's statistics and taxonomy metric (SciPy / numpy).

Writes crates/embedding/tests/fixtures/stats.json:
  pearson / spearman of samples with ties (scipy.stats.pearsonr / spearmanr);
  classical MDS (numpy eigh of the double-centred -D^2/2) of a Euclidean distance matrix, top 2
  axes, each axis signed so that its largest-magnitude coordinate is positive;
  REF's "average top-k taxonomic distance" (plot_distance_cub_inat.py, docs/reference.md §8) of a
  random ties-free distance matrix against a random 4-rank taxonomy, for several k, computed
  with numpy argsort after setting the diagonal to +inf;
  the same metric for uniformly random neighbours (random_top_k), as the mean over every k-subset
  of the other tasks (itertools.combinations: an exact expectation by enumeration, not by formula);
  a Mantel test (mantel_*) of two 7x7 symmetric matrices: scipy.stats.spearmanr of their upper
  triangles and the exact one-sided permutation p-value over all 7! = 5040 relabellings of the
  tasks (itertools.permutations), plus two p-values of tests the library must NOT compute (two-sided;
  permuting the 21 pairs instead of the tasks), so that the test can tell them apart.
Run: python ci/golden/stats.py (numpy, scipy)
"""
import itertools
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
    random_top_k = {}
    for k in (1, 2, 3, 21, n - 1):
        per_task = []
        for i in range(n):
            others = [j for j in range(n) if j != i]
            subsets = [np.mean(tax[i, list(c)]) for c in itertools.combinations(others, k)]
            per_task.append(np.mean(subsets))
        random_top_k[str(k)] = float(np.mean(per_task))
    OUT.write_text(json.dumps({
        "mds_distances": dm.tolist(), "mds_coords": coords.tolist(),
        "x": x.tolist(), "y": y.tolist(),
        "pearson": float(stats.pearsonr(x, y)[0]),
        "spearman": float(stats.spearmanr(x, y)[0]),
        "distances": d.tolist(), "lineages": lineages, "taxonomy": tax.tolist(),
        "top_k": top_k,
        "random_top_k": random_top_k,
        **mantel_case(),
    }) + "\n")


def upper(m):
    return m[np.triu_indices(len(m), 1)]


def mantel_case():
    """Two 7x7 symmetric matrices: a three-level taxonomy (with ties) and a noisy distance that
    partly follows it. A separate generator keeps the older fixtures above unchanged."""
    rng = np.random.default_rng(7)
    n = 7
    group = np.array([0, 0, 0, 1, 1, 2, 2])
    b = np.where(group[:, None] == group[None, :], 1.0, 2.0)
    np.fill_diagonal(b, 0)
    noise = rng.uniform(0, 3.0, (n, n))
    a = b + (noise + noise.T) / 2
    np.fill_diagonal(a, 0)
    x = upper(a)
    r = stats.spearmanr(x, upper(b))[0]
    perms = [upper(b[np.ix_(p, p)]) for p in itertools.permutations(range(n))]
    rs = np.array([stats.spearmanr(x, y)[0] for y in perms])
    one_sided = float(np.mean(rs >= r - 1e-12))
    two_sided = float(np.mean(np.abs(rs) >= abs(r) - 1e-12))
    # Shuffling the pairs (the wrong null): Monte Carlo, 200000 shuffles.
    y = upper(b)
    pr = np.array([stats.spearmanr(x, rng.permutation(y))[0] for _ in range(200000)])
    pairs = float(np.mean(pr >= r - 1e-12))
    return {
        "mantel_a": a.tolist(), "mantel_b": b.tolist(), "mantel_spearman": float(r),
        "mantel_p_exact": one_sided, "mantel_p_two_sided": two_sided,
        "mantel_p_pair_shuffle": pairs,
    }


if __name__ == "__main__":
    main()
