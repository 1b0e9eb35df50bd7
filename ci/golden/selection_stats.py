#!/usr/bin/env python3
"""Golden values for task2vec-model2vec's selection statistics (crates/model2vec/src/evaluate.rs).

  wilcoxon   scipy.stats.wilcoxon(x, y, zero_method="wilcox", correction=False, method="approx"):
             statistic (min of the two rank sums), zstatistic, pvalue, and the number of
             non-zero differences; cases with ties, zero differences and both. x and y are given
             literally or by integer formulas that the Rust test evaluates the same way.
  table      on a fixed 6 x 4 error matrix (targets x candidates) and a fixed selection:
             the oracle (np.argmin), the ratio of means sum(e_sel)/sum(e_oracle) - 1, the mean
             of ratios mean(max(e_sel, floor) / max(e_oracle, floor) - 1), how many oracle errors were
             floored, top-1 accuracy (ties in error count as optimal), regret
             mean(e_sel - e_oracle), and chance (mean error over the candidates allowed by a
             mask) with its ratio of means, all with numpy.
Writes crates/model2vec/tests/golden/selection_stats.json.
Run: python ci/golden/selection_stats.py   (numpy, scipy >= 1.9 for zstatistic)
"""
import json
import os

import numpy as np
from scipy.stats import wilcoxon

WILCOXON_CASES = [
    # name, x, y (formulas repeated in the Rust test)
    ("literal", [0.31, 0.12, 0.55, 0.47, 0.20, 0.38, 0.61, 0.09],
     [0.25, 0.18, 0.40, 0.52, 0.11, 0.30, 0.42, 0.10]),
    ("ties", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
     [0.0, 1.0, 4.0, 2.0, 7.0, 4.0, 5.0, 9.0, 6.0]),
    ("zeros", [0.5, 0.25, 0.75, 0.125, 0.5, 0.375, 0.625],
     [0.5, 0.125, 0.75, 0.25, 0.25, 0.375, 0.25]),
    ("ties_and_zeros", [2.0, 3.0, 3.0, 5.0, 1.0, 4.0, 6.0, 2.0, 8.0, 7.0],
     [2.0, 1.0, 4.0, 3.0, 1.0, 6.0, 4.0, 3.0, 5.0, 7.0]),
    ("formula_40", [((i * 37) % 23) / 23.0 for i in range(40)],
     [((i * 11) % 19) / 19.0 for i in range(40)]),
]

ERRORS = np.array([
    [0.10, 0.20, 0.15, 0.30],
    [0.05, 0.05, 0.40, 0.10],
    [0.00, 0.12, 0.08, 0.20],
    [0.33, 0.25, 0.25, 0.50],
    [0.40, 0.45, 0.35, 0.38],
    [0.02, 0.06, 0.04, 0.01],
])
SELECTION = [2, 1, 1, 2, 3, 0]
ALLOWED = np.array([
    [False, True, True, True],
    [True, False, True, True],
    [True, True, False, True],
    [True, True, True, False],
    [True, True, True, True],
    [True, True, True, True],
])
FLOOR = 0.01

out = {"wilcoxon": [], "table": {}}
for name, x, y in WILCOXON_CASES:
    x, y = np.asarray(x, float), np.asarray(y, float)
    r = wilcoxon(x, y, zero_method="wilcox", correction=False, method="approx")
    out["wilcoxon"].append(dict(name=name, statistic=float(r.statistic), z=float(r.zstatistic),
                                p_value=float(r.pvalue), n_used=int(np.sum(x - y != 0))))

# The oracle over allowed candidates (excluded ones set to +inf), lowest index on ties.
masked = np.where(ALLOWED, ERRORS, np.inf)
oracle_idx = np.argmin(masked, axis=1)
e_oracle = ERRORS[np.arange(6), oracle_idx]
e_sel = ERRORS[np.arange(6), SELECTION]
e_chance = np.array([ERRORS[t][ALLOWED[t]].mean() for t in range(6)])
out["table"] = dict(
    errors=ERRORS.tolist(), allowed=ALLOWED.tolist(), selection=SELECTION, floor=FLOOR,
    oracle=oracle_idx.tolist(),
    ratio_of_means=float(e_sel.sum() / e_oracle.sum() - 1),
    mean_of_ratios=float(np.mean(np.maximum(e_sel, FLOOR) / np.maximum(e_oracle, FLOOR) - 1)),
    floored=int(np.sum(e_oracle < FLOOR)),
    top1=float(np.mean(e_sel <= e_oracle)),
    regret=float(np.mean(e_sel - e_oracle)),
    chance_errors=e_chance.tolist(),
    chance_ratio_of_means=float(e_chance.sum() / e_oracle.sum() - 1),
    chance_mean_of_ratios=float(np.mean(np.maximum(e_chance, FLOOR) / np.maximum(e_oracle, FLOOR) - 1)),
)

path = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "model2vec", "tests",
                    "golden", "selection_stats.json")
with open(path, "w") as fh:
    json.dump(out, fh, indent=1)
    fh.write("\n")
print(json.dumps(out, indent=1))
