#!/usr/bin/env python3
"""Consistency checks of deploy/k8s/run-suite.yaml that a JSON schema cannot express (the schema
has no enum for completionMode, no cross-object references, no cross-field rules):

* the Indexed Job: completionMode Indexed, completions == parallelism == the --shards of its
  `task2vec run` command, restartPolicy Never (required by backoffLimitPerIndex);
* both Jobs run the same image; every volumeMount names a volume of its pod; every claim and
  ConfigMap a pod uses is defined in the file; the claims are ReadWriteMany; the store is mounted
  at the path given to --store, TASK2VEC_HOME is on a mounted volume;
* the suite in the ConfigMap parses as TOML, with unique task ids;
* every object carries the stage label the documented `kubectl apply -l` commands select on,
  the Jobs stage=run and stage=merge, every other object stage=setup.

Usage: check_manifest.py FILE (needs PyYAML). Prints one line per check; exits 1 on any failure.
"""
import sys
import tomllib

import yaml

STAGE = "task2vec.example/stage"


def main(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    errors = []

    def check(ok, what):
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            errors.append(what)

    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), {})[d["metadata"]["name"]] = d
    jobs = by_kind.get("Job", {})
    check("task2vec-run" in jobs and "task2vec-merge" in jobs, "Jobs task2vec-run and task2vec-merge exist")
    if errors:
        return errors
    run, merge = jobs["task2vec-run"], jobs["task2vec-merge"]

    spec = run["spec"]
    check(spec.get("completionMode") == "Indexed", f"task2vec-run: completionMode is Indexed (got {spec.get('completionMode')!r})")
    cmd = spec["template"]["spec"]["containers"][0]["command"]
    shards = int(cmd[cmd.index("--shards") + 1]) if "--shards" in cmd else None
    check(cmd[:2] == ["task2vec", "run"], f"task2vec-run runs `task2vec run` (command {cmd})")
    check(spec.get("completions") == spec.get("parallelism") == shards,
          f"task2vec-run: completions ({spec.get('completions')}) == parallelism ({spec.get('parallelism')}) == --shards ({shards})")
    if "backoffLimitPerIndex" in spec:
        check(spec["template"]["spec"].get("restartPolicy") == "Never",
              "task2vec-run: restartPolicy Never (required with backoffLimitPerIndex)")
    images = {j["spec"]["template"]["spec"]["containers"][0]["image"] for j in (run, merge)}
    check(len(images) == 1, f"both Jobs run one image ({sorted(images)})")

    store_path = cmd[cmd.index("--store") + 1] if "--store" in cmd else None
    for name, job in jobs.items():
        pod = job["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            for path, vol in mounts.items():
                check(vol in volumes, f"{name}: mount {path} names a volume of the pod ({vol})")
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            home = env.get("TASK2VEC_HOME")
            check(home is not None and any(home == p or home.startswith(p.rstrip("/") + "/") for p in mounts),
                  f"{name}: TASK2VEC_HOME ({home}) is on a mounted volume")
            check(store_path in mounts, f"{name}: the store ({store_path}) is mounted")
            check("requests" in c.get("resources", {}) and "limits" in c.get("resources", {}),
                  f"{name}: resource requests and limits set")
        for vname, v in volumes.items():
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                pvc = by_kind.get("PersistentVolumeClaim", {}).get(claim)
                check(pvc is not None, f"{name}: claim {claim} is defined in the file")
                if pvc is not None:
                    check(pvc["spec"].get("accessModes") == ["ReadWriteMany"], f"claim {claim} is ReadWriteMany")
            if "configMap" in v:
                cm = v["configMap"]["name"]
                check(cm in by_kind.get("ConfigMap", {}), f"{name}: ConfigMap {cm} is defined in the file")

    for cm_name, cm in by_kind.get("ConfigMap", {}).items():
        for key, text in cm.get("data", {}).items():
            if key.endswith(".toml"):
                try:
                    ids = [t["id"] for t in tomllib.loads(text).get("task", [])]
                    ok = len(ids) > 0 and len(set(ids)) == len(ids)
                except (tomllib.TOMLDecodeError, KeyError, TypeError) as e:
                    ids, ok = str(e), False
                check(ok, f"ConfigMap/{cm_name} {key}: a TOML suite with unique task ids ({ids})")

    for d in docs:
        stage = d["metadata"].get("labels", {}).get(STAGE)
        want = "merge" if d is merge else "run" if d is run else "setup"
        check(stage == want, f"{d['kind']}/{d['metadata']['name']}: label {STAGE}={want} (got {stage!r})")
    return errors


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    errs = main(sys.argv[1])
    if errs:
        print(f"{sys.argv[1]}: {len(errs)} consistency check(s) failed", file=sys.stderr)
        sys.exit(1)
