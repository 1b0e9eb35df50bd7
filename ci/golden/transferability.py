#!/usr/bin/env python3
"""Golden values for task2vec-model2vec's LogME and LEEP (crates/model2vec/src/transferability.rs).

Both scores are computed here with numpy from the published formulas, by code written for this
script (not a port of the Rust):
  LogME  You et al., ICML 2021, Algorithm 1: for each class, a Bayesian linear regression
         y = F w + noise, w ~ N(0, 1/alpha), noise ~ N(0, 1/beta); (alpha, beta) by the
         fixed-point iteration from alpha = beta = 1 (gamma = sum beta*s/(alpha+beta*s),
         alpha = gamma/m'm, beta = (N-gamma)/|y-Fm|^2), at most 11 iterations, stopping when
         alpha/beta moves by < 1 % (the authors' ICML code, with its epsilon 1e-5 in the
         updates and the evidence). m is solved directly from A m = beta F'y with
         A = alpha I + beta F'F (np.linalg.solve), log|A| by np.linalg.slogdet: always the D x D
         form, so the Rust code's N < D shortcut (eigenvalues of F F') is checked against it.
         LogME = mean over classes of the log evidence / N.
  LEEP   Nguyen et al., ICML 2020: P(y,z) = 1/N sum_{i: y_i = y} theta_i[z],
         P(y|z) = P(y,z)/P(z), LEEP = 1/N sum_i log sum_z P(y_i|z) theta_i[z].

Inputs are not stored: they come from a 64-bit LCG that the Rust test implements identically
(state = state * 6364136223846793005 + 1442695040888963407 mod 2^64, u = (state >> 11) / 2^53),
drawn row by row:
  LogME  label_i = (7 i + 3) % classes;  F[i][j] = 2u - 1 + signal * [j % classes == label_i]
  LEEP   label_i = (7 i + 3) % classes;  logits[i][z] = 3 (2u - 1) + signal * [z % classes == label_i],
         theta_i = softmax(logits_i)
Writes crates/model2vec/tests/golden/transferability.json.
Run: python ci/golden/transferability.py   (numpy; any recent version)
"""
import json
import math
import os

import numpy as np

MASK = (1 << 64) - 1


class Lcg:
    def __init__(self, seed):
        self.state = seed & MASK

    def uniform(self):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & MASK
        return (self.state >> 11) / float(1 << 53)


def labels_for(n, classes):
    return np.array([(7 * i + 3) % classes for i in range(n)])


def logme_features(n, d, classes, signal, seed):
    rng = Lcg(seed)
    y = labels_for(n, classes)
    f = np.empty((n, d))
    for i in range(n):
        for j in range(d):
            f[i, j] = 2.0 * rng.uniform() - 1.0 + (signal if j % classes == y[i] else 0.0)
    return f, y


def leep_probs(n, z, classes, signal, seed):
    rng = Lcg(seed)
    y = labels_for(n, classes)
    logits = np.empty((n, z))
    for i in range(n):
        for k in range(z):
            logits[i, k] = 3.0 * (2.0 * rng.uniform() - 1.0) + (signal if k % classes == y[i] else 0.0)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True), y


def log_max_evidence(f, t):
    """Per-sample log maximum evidence of target column t (Algorithm 1 of the LogME paper)."""
    n, d = f.shape
    eps = 1e-5
    ftf = f.T @ f
    sigma = np.linalg.eigvalsh(ftf).clip(min=0.0)
    fty = f.T @ t
    alpha, beta = 1.0, 1.0
    for _ in range(11):
        a_mat = alpha * np.eye(d) + beta * ftf
        m = beta * np.linalg.solve(a_mat, fty)
        gamma = float(np.sum(beta * sigma / (alpha + beta * sigma)))
        mm = float(m @ m)
        rr = float(np.sum((t - f @ m) ** 2))
        new_alpha = gamma / (mm + eps)
        new_beta = (n - gamma) / (rr + eps)
        converged = abs(new_alpha / new_beta - alpha / beta) / (alpha / beta) < 0.01
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    a_mat = alpha * np.eye(d) + beta * ftf
    _, logdet = np.linalg.slogdet(a_mat)
    ev = (n / 2 * math.log(beta) + d / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
          - beta / 2 * (rr + eps) - alpha / 2 * (mm + eps) - logdet / 2)
    return ev / n


def logme(f, y, classes):
    return float(np.mean([log_max_evidence(f, (y == c).astype(float)) for c in range(classes)]))


def leep(theta, y, classes):
    n, z = theta.shape
    joint = np.zeros((classes, z))
    for c in range(classes):
        joint[c] = theta[y == c].sum(axis=0) / n
    cond = joint / joint.sum(axis=0, keepdims=True)
    return float(np.mean(np.log(np.sum(cond[y] * theta, axis=1))))


LOGME_CASES = [
    # name, n, d, classes, signal, seed
    ("random_n_lt_d", 30, 50, 3, 0.0, 1),
    ("informative_n_lt_d", 30, 50, 3, 2.0, 1),
    ("random_n_gt_d", 120, 12, 4, 0.0, 2),
    ("informative_n_gt_d", 120, 12, 4, 1.5, 2),
    ("binary_n_eq_d", 20, 20, 2, 1.0, 3),
    ("ten_classes", 200, 32, 10, 1.0, 4),
]

LEEP_CASES = [
    # name, n, z, classes, signal, seed
    ("random", 60, 8, 3, 0.0, 5),
    ("informative", 60, 8, 3, 4.0, 5),
    ("more_target_classes", 90, 4, 6, 2.0, 6),
    ("many_source_classes", 50, 40, 5, 3.0, 7),
]

out = {"logme": [], "leep": []}
for name, n, d, classes, signal, seed in LOGME_CASES:
    f, y = logme_features(n, d, classes, signal, seed)
    out["logme"].append(dict(name=name, n=n, d=d, classes=classes, signal=signal, seed=seed,
                             value=logme(f, y, classes)))
for name, n, z, classes, signal, seed in LEEP_CASES:
    theta, y = leep_probs(n, z, classes, signal, seed)
    out["leep"].append(dict(name=name, n=n, z=z, classes=classes, signal=signal, seed=seed,
                            value=leep(theta, y, classes)))

path = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "model2vec", "tests",
                    "golden", "transferability.json")
with open(path, "w") as fh:
    json.dump(out, fh, indent=1)
    fh.write("\n")
print(json.dumps(out, indent=1))
