#!/usr/bin/env python3
"""Golden values for task2vec-embedding's hierarchical clustering, from SciPy.

For several random, ties-free distance matrices (12+ leaves among them) and each linkage
method (complete, average, single) records SciPy's linkage matrix Z, its leaf order, and the
leaf order after optimal leaf ordering (`linkage(..., optimal_ordering=True)`).
Writes crates/embedding/tests/fixtures/linkage.json. Deterministic (seeded).

Run: python ci/golden/linkage.py
"""
import json
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import pdist, squareform

OUT = Path(__file__).resolve().parents[2] / "crates/embedding/tests/fixtures/linkage.json"


def main():
    rng = np.random.default_rng(1902_03545)
    cases = []
    # Uniform random dissimilarities (no geometry) and Euclidean points (clustered structure).
    for n in (5, 8, 13, 21):
        d = rng.uniform(0.05, 1.0, (n, n))
        cases.append((f"uniform{n}", squareform((d + d.T) / 2, checks=False)))
    for n in (12, 30):
        centres = rng.normal(0, 4, (4, 3))
        pts = centres[rng.integers(0, 4, n)] + rng.normal(0, 1, (n, 3))
        cases.append((f"points{n}", pdist(pts)))
    out = []
    for name, y in cases:
        assert len(np.unique(y)) == len(y), "fixture must be ties-free"
        case = {"name": name, "matrix": squareform(y).tolist(), "methods": {}}
        for method in ("complete", "average", "single"):
            z = linkage(y, method=method)
            zo = linkage(y, method=method, optimal_ordering=True)
            case["methods"][method] = {
                "z": z.tolist(),
                "leaves": leaves_list(z).tolist(),
                "optimal_leaves": leaves_list(zo).tolist(),
            }
        out.append(case)
    OUT.write_text(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
