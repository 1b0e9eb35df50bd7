#!/usr/bin/env python3
"""Small synthetic embeddings for the README examples (datasets/examples/embeddings/).

Eight made-up tasks in four groups (birds, insects, fashion, digits). Each group has a base
Fisher profile over a tiny 3-layer layout; tasks are the base times log-normal noise, so the
distance matrix shows the groups as blocks. They carry a prior (scale), like variational
embeddings, so `task2vec select --asymmetric` works without a trivial embedding.
THESE ARE NOT REAL TASK2VEC EMBEDDINGS: only for trying the commands on a fresh clone.

Run: python ci/golden/example_embeddings.py   (numpy; seeded)
"""
import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "datasets/examples/embeddings"
LAYOUT = [{"name": "conv1", "filters": 16}, {"name": "layer1.0.conv1", "filters": 32},
          {"name": "layer2.0.conv1", "filters": 48}]
DIM = sum(s["filters"] for s in LAYOUT)
TASKS = {"birds": ["birds-a", "birds-b", "birds-c"], "insects": ["insects-a", "insects-b"],
         "fashion": ["fashion-a", "fashion-b"], "digits": ["digits"]}


def main():
    rng = np.random.default_rng(2019)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    groups = []
    for group, names in TASKS.items():
        base = 10.0 ** rng.uniform(-1, 1, DIM)
        for name in names:
            hessian = base * np.exp(rng.normal(0, 0.35, DIM))
            scale = np.full(DIM, 0.5)
            doc = {
                "format_version": 1,
                "layout": LAYOUT,
                "hessian": [float(v) for v in hessian],
                "scale": [float(v) for v in scale],
                "meta": {
                    "task": name,
                    "estimator": {"name": "synthetic", "hyperparameters": {"noise_sigma": 0.35}},
                    "seed": 2019,
                    "crate_version": "0.1.0",
                    "extra": {"group": group, "generated_by": "ci/golden/example_embeddings.py"},
                },
            }
            (OUT / f"{name}.json").write_text(json.dumps(doc) + "\n")
            groups.append(f"{name},{group}")
    (OUT / "groups.csv").write_text("\n".join(groups) + "\n")


if __name__ == "__main__":
    main()
