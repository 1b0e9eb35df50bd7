#!/usr/bin/env python3
"""Why does one cargo command rebuild what another already built? Compares two cargo unit
graphs and prints the units of the second that the first lacks, and of those the *root causes*
(units whose own dependencies all match: every unit above them differs only because they do).

    export __CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS=nightly   # --unit-graph is unstable
    cargo test --workspace --no-run -Z unstable-options --unit-graph > /tmp/test.json
    cargo build -p xtask -Z unstable-options --unit-graph > /tmp/xtask.json
    python3 ci/unit_graph_diff.py /tmp/test.json /tmp/xtask.json

A unit is its package, target, mode, features, profile (minus its name) and platform, plus its
dependencies, recursively — what cargo's unit hash covers. Found the build-override debuginfo
difference behind ci/check-one-build.sh's failure (see Cargo.toml's [profile.dev.build-override]).
"""
import json
import sys


def units(path):
    graph = json.load(open(path))
    raw = graph["units"]
    memo = {}

    def key(i):
        if i not in memo:
            u = raw[i]
            profile = dict(u["profile"])
            profile.pop("name", None)
            base = (u["pkg_id"].split("#")[-1], u["pkg_id"].startswith("path+"), u["target"]["name"],
                    tuple(u["target"]["kind"]), u["mode"], tuple(u["features"]),
                    json.dumps(profile, sort_keys=True), u.get("platform"))
            memo[i] = (base, tuple(sorted(key(d["index"]) for d in u["dependencies"])))
        return memo[i]

    return {key(i) for i in range(len(raw))}


def main() -> int:
    first, second = units(sys.argv[1]), units(sys.argv[2])
    missing = [k for k in second if k not in first and not k[0][1]]  # registry crates only
    print(f"{len(missing)} dependency units of {sys.argv[2]} are not in {sys.argv[1]}")
    for base, deps in sorted(missing):
        if all(d in first for d in deps):
            profile = json.loads(base[6])
            print(f"  root cause: {base[0]} {base[2]} {base[4]} features={list(base[5])} "
                  f"opt={profile['opt_level']} debuginfo={profile['debuginfo']}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
