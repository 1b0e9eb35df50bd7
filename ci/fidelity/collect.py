"""Tabulates the fidelity study: one Markdown row per finished cell of ci/fidelity/cells.txt.

Reads target/fidelity/<cell>/<suite>/summary.json (written by `cargo xtask reproduce`) and prints
the table docs/fidelity.md shows. Standard library only.   python3 ci/fidelity/collect.py target/fidelity
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
T2V = "Task2Vec (cosine)"
UNIT = "Task2Vec (cosine of unit-mean embeddings)"
FEATURES = "mean pooled features (cosine; the paper's domain baseline)"
DOMAIN = "domain embedding (cosine)"


def cells():
    for line in (ROOT / "ci/fidelity/cells.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, suite, flags = (part.strip() for part in line.split("|"))
        yield name, suite, flags


def num(v, fmt="{:.3f}"):
    return "—" if v is None else fmt.format(v)


def mantel(m):
    if m is None:
        return "undef."
    return f"{m['rho']:.3f} (p {m['p']:.3f})"


def main(out):
    out = pathlib.Path(out)
    print("| cell | suite | flags | s/task (+ twins) | E0 self-retr. cos / unit | E0 ratio cos / unit "
          "| E2 ρ cos | E2 ρ unit | E2 ρ mean-feat | E2 ρ domain | E2 top-1 cos / mean-feat / random "
          "| E3 Spearman | labels ρ (VI) cos / unit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, suite, flags in cells():
        path = out / name / suite / "summary.json"
        if not path.exists():
            continue
        s = json.loads(path.read_text())
        e0, e2 = s["e0"], s["e2"]["rankings"]
        e5 = s["e5"]["correlations"] if s["e5"]["pairs"] >= 3 else {}

        def e0v(name, key):
            return num(e0.get(name, {}).get(key), "{:.0%}" if key == "self_retrieval" else "{:.2f}")

        def e5v(name):
            c = e5.get(name)
            return "—" if c is None else mantel(c["partition"])

        print(
            f"| {name} | {suite} | `{flags or '(defaults)'}` "
            f"| {s['seconds_per_task']:.1f} (+{num(s['retest_seconds_per_task'], '{:.1f}')}) "
            f"| {e0v(T2V, 'self_retrieval')} / {e0v(UNIT, 'self_retrieval')} "
            f"| {e0v(T2V, 'ratio')} / {e0v(UNIT, 'ratio')} "
            f"| {mantel(e2[T2V]['mantel'])} | {mantel(e2[UNIT]['mantel'])} "
            f"| {mantel(e2[FEATURES]['mantel'])} | {mantel(e2[DOMAIN]['mantel'])} "
            f"| {num(e2[T2V]['top1'], '{:.2f}')} / {num(e2[FEATURES]['top1'], '{:.2f}')} / "
            f"{num(s['e2']['random_top1'], '{:.2f}')} "
            f"| {num(s['e3']['spearman_norm'])} | {e5v(T2V)} / {e5v(UNIT)} |"
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "target/fidelity")
