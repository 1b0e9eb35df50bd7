#!/usr/bin/env python3
"""Golden values for task2vec-embedding's partition distances (crates/embedding/src/partition.rs).

For each pair of labellings of the same items it prints, in nats:
  H(a), H(b)   scipy.stats.entropy of the class counts
  MI           sklearn.metrics.mutual_info_score
  VI           variation of information, H(a) + H(b) - 2 MI
  NVI          VI / ln(n)
  AMI          sklearn.metrics.adjusted_mutual_info_score (average_method="arithmetic", the default)
The labellings are given literally or by integer formulas that the Rust test evaluates the same
way, so no label list needs to be copied. Paste the printed block into the test
`golden_values_from_sklearn` in partition.rs.
Run: python ci/golden/partition_distance.py   (numpy, scipy, scikit-learn; any recent version)
"""
import math

import numpy as np
from scipy.stats import entropy
from sklearn.metrics import adjusted_mutual_info_score, mutual_info_score


def counts(x):
    return np.unique(x, return_counts=True)[1]


CASES = [
    # name, a, b (the formulas are repeated in the Rust test)
    ("independent", [0, 0, 1, 1], [0, 1, 0, 1]),
    ("renamed", [0, 0, 1, 1, 2], [2, 2, 0, 0, 1]),
    ("one_class", [0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 1, 1]),
    ("digit_vs_parity", [i % 10 for i in range(30)], [(i % 10) % 2 for i in range(30)]),
    ("formula_7_vs_4", [(i * i + 3 * i) % 7 for i in range(50)], [(5 * i + i // 4) % 4 for i in range(50)]),
    ("ten_vs_merged_300", [i % 10 for i in range(300)], [min(i % 10, 8) for i in range(300)]),
    ("formula_5_vs_3_300", [(i * 37 + 11) % 101 % 5 for i in range(300)], [(i * i) % 13 % 3 for i in range(300)]),
]

for name, a, b in CASES:
    a, b = np.asarray(a), np.asarray(b)
    ha, hb = float(entropy(counts(a))), float(entropy(counts(b)))
    mi = float(mutual_info_score(a, b))
    vi = ha + hb - 2 * mi
    nvi = vi / math.log(len(a))
    ami = float(adjusted_mutual_info_score(a, b))
    print(f'("{name}", {ha!r}, {hb!r}, {mi!r}, {vi!r}, {nvi!r}, {ami!r}),')
