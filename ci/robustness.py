#!/usr/bin/env python3
"""Bad-input sweep of the real `task2vec` CLI (and `cargo xtask reproduce`); writes
docs/robustness.md.

Every case builds its bad input in a scratch directory, runs the real binary, and records the
exit code, the first stderr line that says what is wrong, whether that line names the bad file,
and what was left in the output directory. Each case states what must happen (an error, a
success, or death by the signal we sent); the verdicts are checked here, not read off the CLI.

Exit status: 1 if any case panicked (exit 101 / "panicked at"), died of a signal we did not
send, hung, left a partial or temporary file, destroyed a previous complete output, or could not
be set up; 0 otherwise. Findings that are not crashes (an error that does not name the file, a
bad input answered with a number) are marked in the table and listed at the end; `--strict`
makes them fail too.

usage: python3 ci/robustness.py [--no-build] [--out docs/robustness.md] [--strict]

Python 3.11 standard library only: test images are written as PNG bytes with zlib/struct,
weights as safetensors bytes, arrays as .npy bytes.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "datasets" / "examples" / "embeddings"
TINY_LAYOUT = ROOT / "crates" / "probe" / "graphs" / "tiny-resnet.layout.json"
# A case that takes longer than this is a hang (the slowest case needs a few seconds).
CASE_TIMEOUT_S = 120
# A temporary file's name as tempfile makes it: `.tmp` or `.tmp-<prefix>-`, then 6 random
# characters (`XXXXXX` once cleaned for the table).
TEMP_NAME = re.compile(r"(/\.tmp(?:-[A-Za-z0-9]+)*?-?)([A-Za-z0-9]{6})(?![A-Za-z0-9])")
# Common embed arguments: the compiled-in probe, few head epochs, so a run takes seconds.
EMBED = ["--probe", "tiny-resnet", "--head-epochs", "2"]

# ---------------------------------------------------------------------------------------------
# Input files, written byte by byte.


def png(width: int, height: int, rows: list[bytes] | None = None) -> bytes:
    """An 8-bit RGB PNG. `rows`: width*3 bytes each; None gives a tiny IDAT (for fake headers)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows) if rows is not None else b"\x00" * 64
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def good_png(cls: int, index: int, size: int = 32) -> bytes:
    """A deterministic image whose colour and stripe direction depend on the class."""
    rng = random.Random(cls * 100_003 + index)
    base = [(cls * 80) % 256, (cls * 150 + 60) % 256, (cls * 40 + 120) % 256]
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            stripe = 60 if ((x if cls % 2 else y) // 4) % 2 else 0
            for c in range(3):
                row.append(min(255, max(0, base[c] + stripe + rng.randint(-30, 30))))
        rows.append(bytes(row))
    return png(size, size, rows)


def noise_png(seed: int, size: int = 32) -> bytes:
    """Uniform noise: no class signal at all."""
    rng = random.Random(seed)
    return png(size, size, [rng.randbytes(size * 3) for _ in range(size)])


def image_folder(root: Path, classes: list[str], per_class: int, signal: bool = True) -> Path:
    """One folder per class; with `signal=False` the images are noise, so that a classifier's
    error differs from task to task (reproduce correlates it with the embedding)."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            data = good_png(c, i) if signal else noise_png(zlib.crc32(f"{name}/{i}".encode()))
            (root / name / f"{i:03d}.png").write_bytes(data)
    return root


def npy_f64(values: list[float]) -> bytes:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % len(values)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return (
        b"\x93NUMPY\x01\x00"
        + struct.pack("<H", len(header))
        + header.encode()
        + struct.pack(f"<{len(values)}d", *values)
    )


def tiny_state_dict() -> list[tuple[str, list[int]]]:
    """(torchvision name, shape) of every tensor tiny-resnet's loader expects."""
    layout = json.loads(TINY_LAYOUT.read_text())
    tensors = []
    for conv in layout["convs"]:
        shape = [conv["out_channels"], conv["in_channels"] // conv["groups"], *conv["kernel"]]
        tensors.append((f"{conv['name']}.weight", shape))
        if conv["bias"]:
            tensors.append((f"{conv['name']}.bias", [conv["out_channels"]]))
    for bn in layout["batch_norms"]:
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            tensors.append((f"{bn['name']}.{leaf}", [bn["channels"]]))
    tensors.append((f"{layout['head']}.weight", list(layout["head_shape"])))
    tensors.append((f"{layout['head']}.bias", [layout["head_shape"][0]]))
    return tensors


def safetensors(tensors: list[tuple[str, list[int]]], poison: dict[str, float] | None = None) -> bytes:
    """float32 safetensors; values are small and deterministic (running_var > 0); `poison`
    sets the first value of the named tensors."""
    poison = poison or {}
    header, blobs, offset = {}, [], 0
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        fill = 1.0 if name.endswith(("running_var", "bn1.weight")) else 0.01
        values = [fill + 0.001 * (i % 7) for i in range(n)]
        if name in poison:
            values[0] = poison[name]
        blob = struct.pack(f"<{n}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def idx_images(n: int, size: int = 8) -> bytes:
    return struct.pack(">BBBBIII", 0, 0, 8, 3, n, size, size) + bytes(n * size * size)


# ---------------------------------------------------------------------------------------------
# Running a case and judging what it left behind.


@dataclass
class Outcome:
    rc: int | None  # negative: killed by that signal (Python's convention); None: hung
    stderr: str
    stdout: str
    seconds: float


@dataclass
class Row:
    group: str
    case: str
    command: str
    expect: str  # "error", "success" or "killed"
    rc: str = ""
    message: str = ""
    names_file: str = ""
    output: str = ""
    verdict: str = ""
    failures: list[str] = field(default_factory=list)  # crash-class problems: CI fails
    findings: list[str] = field(default_factory=list)  # quality problems: reported
    seconds: float = 0.0
    stderr: str = ""
    stdout: str = ""


class Sweep:
    def __init__(self, work: Path, bin_path: Path, xtask_path: Path):
        self.work = work
        self.bin = bin_path
        self.xtask = xtask_path
        self.rows: list[Row] = []

    # -- helpers --------------------------------------------------------------------------

    def show(self, argv: list[str]) -> str:
        """A command as the table shows it: scratch paths as $W, the binaries by name."""
        words = []
        for a in argv:
            a = str(a)
            if a == str(self.bin):
                a = "task2vec"
            elif a == str(self.xtask):
                a = "cargo xtask"
            elif Path(a).name == "setpriv":
                a = "setpriv"
            words.append(a.replace(str(self.work), "$W").replace(str(ROOT) + "/", ""))
        return " ".join(words)

    def clean(self, text: str) -> str:
        text = text.replace(str(self.work), "$W").replace(str(ROOT) + "/", "")
        # tempfile's random names would make every regeneration differ.
        return TEMP_NAME.sub(lambda m: m.group(1) + "XXXXXX", text)

    def run(self, argv: list[str], env: dict | None = None, preexec=None) -> Outcome:
        start = time.monotonic()
        try:
            p = subprocess.run(
                [str(a) for a in argv],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=CASE_TIMEOUT_S,
                env={**os.environ, **(env or {})},
                preexec_fn=preexec,
                cwd=self.work,
            )
            return Outcome(p.returncode, p.stderr, p.stdout, time.monotonic() - start)
        except subprocess.TimeoutExpired as e:
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            return Outcome(None, err, "", time.monotonic() - start)

    @staticmethod
    def first_problem_line(stderr: str) -> str:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        tests = [
            lambda x: "panicked at" in x,
            lambda x: x.lower().startswith("error"),
            lambda x: x.startswith("memory allocation of"),
            lambda x: "overflowed its stack" in x or "fatal runtime error" in x,
            lambda x: "error" in x.lower(),
        ]
        for test in tests:
            for line in lines:
                if test(line):
                    return line
        return lines[0] if lines else ""

    def judge(
        self,
        row: Row,
        out: Outcome,
        *,
        bad_file: str | None,
        outputs: dict[Path, bytes | None],
        watch: list[Path],
        before: dict[Path, set[str]],
        sent: int | None = None,
    ) -> None:
        """Fills `row` from `out`. `outputs`: each output path and its previous complete bytes
        (None: it did not exist); `watch`: directories that must gain no stray file."""
        row.seconds = out.seconds
        row.stderr = out.stderr
        row.stdout = out.stdout
        row.rc = "hang" if out.rc is None else (f"killed ({signal.Signals(-out.rc).name})" if out.rc < 0 else str(out.rc))
        msg = self.first_problem_line(out.stderr)
        if row.expect == "success" and out.rc == 0:
            msg = msg or self.clean(out.stdout.strip().splitlines()[0] if out.stdout.strip() else "")
        if row.expect == "killed":
            msg = ""  # the case says when it was killed; stderr's last line depends on timing
        row.message = self.clean(msg)
        # Crash-class failures.
        if out.rc is None:
            row.failures.append(f"hung (> {CASE_TIMEOUT_S} s)")
        elif out.rc == 101 or "panicked at" in out.stderr:
            row.failures.append("PANIC")
        elif out.rc < 0 and -out.rc != sent:
            row.failures.append(f"died of {signal.Signals(-out.rc).name}")
        if row.expect == "killed" and out.rc is not None and out.rc >= 0:
            row.failures.append("finished before the signal: the case did not test an interrupt")
        # Expected result.
        if row.expect == "error" and out.rc == 0:
            row.findings.append("bad input accepted (exit 0)")
        if row.expect == "success" and out.rc not in (0,):
            row.findings.append("valid input refused")
        if row.expect in ("error", "either") and out.rc is not None and out.rc > 0 and out.rc != 101:
            if bad_file is not None:
                named = bad_file in out.stderr
                row.names_file = "yes" if named else "no"
                if not named:
                    row.findings.append(f"message does not name `{bad_file}`")
            row.findings += message_findings(row.message)
        # What was left on disk.
        notes = []
        for path, previous in outputs.items():
            shown = self.clean(str(path))
            if out.rc == 0 and row.expect == "success":
                if not path.exists() or path.stat().st_size == 0:
                    row.failures.append(f"{shown} missing after success")
                elif path.suffix == ".json":
                    try:
                        json.loads(path.read_text())
                        notes.append("output complete")
                    except (ValueError, UnicodeDecodeError):
                        row.failures.append(f"{shown} is not valid JSON")
                else:
                    notes.append("output written")
                continue
            if previous is None:
                if path.exists():
                    ok = out.rc == 0  # an accepted bad input writes a (complete) file
                    if not ok:
                        row.failures.append(f"partial output {shown} left behind")
                    else:
                        notes.append("output written")
                else:
                    notes.append("no output file")
            else:
                if not path.exists():
                    row.failures.append(f"previous {shown} deleted")
                elif path.read_bytes() != previous:
                    row.failures.append(f"previous {shown} overwritten")
                else:
                    notes.append("previous file intact")
        expected_new = {p.name for p in outputs}
        for d in watch:
            now = set(os.listdir(d)) if d.is_dir() else set()
            stray = sorted(now - before.get(d, set()) - expected_new)
            if stray:
                row.failures.append(f"stray files in {self.clean(str(d))}: {', '.join(stray)}")
        if not notes and not outputs:
            notes.append("no output")
        if watch and not any("stray" in f for f in row.failures):
            notes.append("no temp files")
        row.output = "; ".join(dict.fromkeys(notes))
        row.verdict = "FAIL" if row.failures else ("finding" if row.findings else "ok")

    def case(
        self,
        group: str,
        case: str,
        argv: list,
        *,
        expect: str = "error",
        bad_file: str | None = None,
        outputs: list[Path] = (),
        watch: list[Path] = (),
        env: dict | None = None,
        preexec=None,
        note: str = "",
    ) -> Row:
        argv = [str(a) for a in argv]
        row = Row(group, case, self.show(argv), expect)
        prev = {p: (p.read_bytes() if p.exists() else None) for p in outputs}
        before = {d: set(os.listdir(d)) if d.is_dir() else set() for d in watch}
        out = self.run(argv, env=env, preexec=preexec)
        self.judge(row, out, bad_file=bad_file, outputs=prev, watch=list(watch), before=before)
        if note:
            row.case += f" ({self.clean(note)})"
        self.rows.append(row)
        return row

    def setup_failed(self, group: str, case: str, why: str) -> None:
        row = Row(group, case, "", "error", verdict="FAIL", output="not run")
        row.message = f"case could not be set up: {why}"
        row.failures.append(row.message)
        self.rows.append(row)

    def out_dir(self, name: str) -> Path:
        d = self.work / "out" / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    # -- cases ----------------------------------------------------------------------------

    def images(self) -> None:
        g = "images"
        bin_ = self.bin

        def folder_with(name: str, bad_name: str, content: bytes | None) -> Path:
            root = image_folder(self.work / name, ["cat", "dog"], 6)
            if content is not None:
                (root / "dog" / bad_name).write_bytes(content)
            return root

        half = good_png(0, 99)
        cases = [
            ("corrupt image (random bytes named .png)", "corrupt", "bad.png", bytes(random.Random(7).randbytes(2048))),
            ("truncated PNG (first half of a valid file)", "truncated", "cut.png", half[: len(half) // 2]),
            ("zero-byte image", "zerobyte", "empty.png", b""),
            ("PNG header claiming 100000x100000 pixels", "huge", "huge.png", png(100_000, 100_000)),
            ("JPEG extension, PNG header claiming 0x0 pixels", "zerodim", "zero.jpg", png(0, 0)),
        ]
        for label, name, bad, content in cases:
            root = folder_with(name, bad, content)
            out = self.out_dir(name)
            self.case(g, label, [bin_, "embed", root, *EMBED, "--quiet", "--out", out / "e.json"],
                      bad_file=bad, outputs=[out / "e.json"], watch=[out])

        # All of the above in one folder, skipped on request: a success that names each file.
        root = image_folder(self.work / "mixed", ["cat", "dog"], 6)
        for _, _, bad, content in cases:
            (root / "dog" / bad).write_bytes(content)
        out = self.out_dir("mixed")
        row = self.case(g, "the five bad images above with --skip-bad-images",
                        [bin_, "embed", root, *EMBED, "--quiet", "--skip-bad-images", "--out", out / "tiny.json"],
                        expect="success", outputs=[out / "tiny.json"], watch=[out])
        if row.verdict != "FAIL" and row.rc == "0":
            skipped = [b for _, _, b, _ in cases]
            stderr_rows = [r for r in skipped if r not in row.stderr]
            if stderr_rows:
                row.findings.append(f"skipped files not named: {', '.join(stderr_rows)}")
                row.verdict = "finding"
            else:
                row.message = self.clean(next(
                    (line for line in row.stderr.splitlines() if "unreadable images" in line), row.message))
        if (out / "tiny.json").exists():
            shutil.copy(out / "tiny.json", self.work / "tiny-task.json")

        # Empty class directory.
        root = image_folder(self.work / "emptyclass", ["cat", "dog"], 6)
        (root / "zebra").mkdir()
        out = self.out_dir("emptyclass")
        self.case(g, "an empty class directory", [bin_, "embed", root, *EMBED, "--quiet", "--out", out / "e.json"],
                  bad_file="zebra", outputs=[out / "e.json"], watch=[out])

        # One class only.
        root = image_folder(self.work / "oneclass", ["cat"], 6)
        out = self.out_dir("oneclass")
        self.case(g, "one class only", [bin_, "embed", root, *EMBED, "--quiet", "--out", out / "e.json"],
                  bad_file=str(root.name), outputs=[out / "e.json"], watch=[out])

        # Unreadable file and directory. Root ignores mode 000, so the command runs with the
        # two capabilities that let root bypass permissions dropped (setpriv), which makes the
        # open fail exactly as for an ordinary user.
        drop = self.drop_dac_caps()
        for label, name, target in [
            ("unreadable image file (mode 000)", "unreadable", "dog/003.png"),
            ("unreadable class directory (mode 000)", "unreadabledir", "dog"),
        ]:
            root = image_folder(self.work / name, ["cat", "dog"], 6)
            (root / target).chmod(0)
            out = self.out_dir(name)
            argv = [bin_, "embed", root, *EMBED, "--quiet", "--out", out / "e.json"]
            if drop is None:
                self.setup_failed(g, label, "running as root and setpriv cannot drop CAP_DAC_OVERRIDE, "
                                  "so mode 000 does not stop the read")
                (root / target).chmod(0o755)
                continue
            argv = drop + argv
            note = "root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH, via setpriv" if drop else ""
            self.case(g, label, argv, bad_file=Path(target).name, outputs=[out / "e.json"], watch=[out], note=note)
            (root / target).chmod(0o755)

        # Symlinks.
        root = image_folder(self.work / "symloop", ["cat", "dog"], 6)
        os.symlink("..", root / "dog" / "loop")
        out = self.out_dir("symloop")
        self.case(g, "symlink loop (dog/loop -> ..)", [bin_, "embed", root, *EMBED, "--quiet", "--out", out / "e.json"],
                  bad_file="loop", outputs=[out / "e.json"], watch=[out])
        root = image_folder(self.work / "selflink", ["cat", "dog"], 6)
        os.symlink("self.png", root / "dog" / "self.png")
        out = self.out_dir("selflink")
        self.case(g, "symlink to itself (dog/self.png -> self.png)",
                  [bin_, "embed", root, *EMBED, "--quiet", "--out", out / "e.json"],
                  bad_file="self.png", outputs=[out / "e.json"], watch=[out])
        root = image_folder(self.work / "dangling", ["cat", "dog"], 6)
        os.symlink("missing.png", root / "dog" / "gone.png")
        out = self.out_dir("dangling")
        self.case(g, "dangling symlink (dog/gone.png -> missing.png)",
                  [bin_, "embed", root, *EMBED, "--quiet", "--out", out / "e.json"],
                  bad_file="gone.png", outputs=[out / "e.json"], watch=[out])

        # Truncated IDX and a CSV manifest naming a missing file.
        idx = self.work / "idx"
        idx.mkdir()
        (idx / "train-images-idx3-ubyte").write_bytes(idx_images(20)[:-100])
        (idx / "train-labels-idx1-ubyte").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 20) + bytes(i % 2 for i in range(20)))
        out = self.out_dir("idx")
        self.case(g, "truncated IDX images file", [bin_, "embed", idx, *EMBED, "--quiet", "--out", out / "e.json"],
                  bad_file="train-images-idx3-ubyte", outputs=[out / "e.json"], watch=[out])
        root = image_folder(self.work / "csv", ["cat", "dog"], 3)
        lines = ["path,label"] + [f"{c}/{i:03d}.png,{c}" for c in ("cat", "dog") for i in range(3)] + ["dog/nothere.png,dog"]
        (root / "tasks.csv").write_text("\n".join(lines) + "\n")
        out = self.out_dir("csv")
        self.case(g, "CSV manifest naming a missing image",
                  [bin_, "embed", root / "tasks.csv", *EMBED, "--quiet", "--out", out / "e.json"],
                  bad_file="nothere.png", outputs=[out / "e.json"], watch=[out])

    def suites(self) -> None:
        """`task2vec run`: bad suite files, a directory that is not a store, bad shards, and a
        task whose dataset is missing (recorded as failed; the run's other tasks finish)."""
        g = "suites"
        bin_ = self.bin
        data = image_folder(self.work / "suite-data", ["cat", "dog"], 4)
        run = [bin_, "run", "--probe", "tiny-resnet", "--input-size", "32", "--quiet"]
        good = self.work / "good-suite.toml"
        good.write_text(f'name = "ok"\n[[task]]\nid = "pets"\ndataset = "{data}"\n')
        store = self.work / "suite-store"
        for label, name, text in [
            ("suite file that is not TOML", "garbage-suite.toml", "name = [unclosed\n"),
            ("suite with an unknown field", "unknown-suite.toml",
             f'name = "x"\n[[task]]\nid = "a"\ndataset = "{data}"\nmax_sample = 3\n'),
            ("suite task with both a source and a dataset", "both-suite.toml",
             f'name = "x"\n[[task]]\nid = "a"\nsource = "mnist"\ndataset = "{data}"\n'),
        ]:
            (self.work / name).write_text(text)
            self.case(g, label, run + [self.work / name, "--store", store], bad_file=name,
                      watch=[self.work])
        notastore = self.work / "thesis"
        notastore.mkdir()
        (notastore / "chapter1.tex").write_text("x")
        self.case(g, "--store: a non-empty directory that is not a store",
                  run + [good, "--store", notastore], bad_file="thesis", watch=[notastore])
        self.case(g, "--shard 3/3 (out of range)", run + [good, "--store", store, "--shard", "3/3"])
        self.case(g, "JOB_COMPLETION_INDEX set without --shards (Kubernetes)",
                  run + [good, "--store", store], env={"JOB_COMPLETION_INDEX": "0"})
        missing = self.work / "missing-suite.toml"
        missing.write_text(f'name = "m"\n[[task]]\nid = "pets"\ndataset = "{data}"\n'
                           f'[[task]]\nid = "gone"\ndataset = "{self.work / "no-such-folder"}"\n')
        self.case(g, "a task whose dataset folder is missing (recorded as failed, the other task finishes)",
                  run + [missing, "--store", store], bad_file="no-such-folder")

    def drop_dac_caps(self) -> list[str] | None:
        """A setpriv prefix that removes root's permission bypass, or None if that fails."""
        if os.geteuid() != 0:
            return []
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            return None
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, "--bounding-set", caps, "--inh-caps", caps]
        probe = self.work / "cap-probe"
        probe.write_text("x")
        probe.chmod(0)
        try:
            r = subprocess.run(prefix + ["cat", str(probe)], capture_output=True, timeout=10)
        except OSError:
            return None
        finally:
            probe.chmod(0o644)
        return prefix if r.returncode != 0 else None

    def embed_options(self) -> None:
        """Out-of-range options: each must be refused before any work, with the option named.
        Address space is capped at 16 GiB so that an unbounded allocation fails here instead of
        waking the OOM killer on a machine that overcommits memory."""
        g = "embed options"
        root = image_folder(self.work / "options", ["cat", "dog", "eel"], 4)
        out = self.out_dir("options")
        for label, extra, named in [
            ("--max-samples 0", ["--max-samples", "0"], "max-samples"),
            ("--max-samples 2 with 3 classes", ["--max-samples", "2"], "max-samples"),
            ("--classes naming an unknown class", ["--classes", "cat,zebra"], "zebra"),
            ("--classes naming a class twice", ["--classes", "cat,cat"], "cat"),
            ("--fisher-batch-size 0", ["--fisher-batch-size", "0"], "fisher-batch-size"),
            ("--input-size 4 (below the probe's minimum)", ["--input-size", "4"], "4"),
            ("--input-size 100000 (a 10^10-pixel input)", ["--input-size", "100000"], "input-size"),
            ("--skip-layers 99 (no such split point)", ["--skip-layers", "99"], "skip-layers"),
            ("--cache-budget 12parsecs", ["--cache-budget", "12parsecs"], "cache-budget"),
            ("--cache-budget -1G", ["--cache-budget", "-1G"], "cache-budget"),
        ]:
            self.case(g, label, [self.bin, "embed", root, *EMBED, "--quiet", *extra, "--out", out / "e.json"],
                      bad_file=named, outputs=[out / "e.json"], watch=[out], preexec=cap_address_space)
        # The activations must spill (budget 0, no augmentation: they are kept) into a
        # temporary directory that does not exist: the error names it, nothing is written.
        self.case(g, "--cache-budget 0 with TMPDIR a missing directory",
                  [self.bin, "embed", root, *EMBED, "--quiet", "--augment", "none", "--cache-budget", "0",
                   "--out", out / "e.json"],
                  bad_file="no-such-tmp", outputs=[out / "e.json"], watch=[out],
                  env={"TMPDIR": str(self.work / "no-such-tmp")})

    def weights(self) -> None:
        g = "weights"
        bin_ = self.bin
        d = self.work / "weights"
        d.mkdir()
        tensors = tiny_state_dict()
        good = safetensors(tensors)
        (d / "good.safetensors").write_bytes(good)
        (d / "garbage.safetensors").write_bytes(random.Random(3).randbytes(4096))
        (d / "truncated.safetensors").write_bytes(good[: len(good) // 2])
        (d / "zero.safetensors").write_bytes(b"")
        wrong = [(n, [s[0] + 1, *s[1:]]) if n == "layer1.0.conv1.weight" else (n, s) for n, s in tensors]
        wrong = [t for t in wrong if t[0] != "fc.bias"] + [("fc.extra", [3])]
        (d / "wrong.safetensors").write_bytes(safetensors(wrong))
        (d / "nan.safetensors").write_bytes(safetensors(tensors, {"layer2.0.conv1.weight": float("nan")}))
        (d / "inf.safetensors").write_bytes(safetensors(tensors, {"layer3.0.bn1.running_var": float("inf")}))
        (d / "text.pth").write_text("this is not a PyTorch checkpoint\n")
        (d / "zero.bpk").write_bytes(b"")
        info = [bin_, "probe", "info", "tiny-resnet", "--weights"]
        self.case(g, "control: a valid tiny-resnet .safetensors", info + [d / "good.safetensors"], expect="success")
        for label, name in [
            ("random bytes named .safetensors", "garbage.safetensors"),
            ("truncated .safetensors (first half)", "truncated.safetensors"),
            ("zero-byte .safetensors", "zero.safetensors"),
            ("wrong architecture (a mis-shaped, a missing and an extra tensor)", "wrong.safetensors"),
            ("NaN in a conv weight", "nan.safetensors"),
            ("+inf in a BatchNorm running_var", "inf.safetensors"),
            ("text file named .pth", "text.pth"),
            ("zero-byte .bpk", "zero.bpk"),
        ]:
            self.case(g, label, info + [d / name], bad_file=name)
        root = image_folder(self.work / "weights-data", ["cat", "dog"], 4)
        out = self.out_dir("weights")
        self.case(g, "NaN weights given to embed", [bin_, "embed", root, "--probe", "tiny-resnet", "--weights",
                                                    d / "nan.safetensors", "--quiet", "--out", out / "e.json"],
                  bad_file="nan.safetensors", outputs=[out / "e.json"], watch=[out])

    def embeddings(self) -> None:
        g = "embeddings"
        bin_ = self.bin
        d = self.work / "emb"
        d.mkdir()
        base_text = (EXAMPLES / "birds-a.json").read_text()
        base = json.loads(base_text)
        shutil.copy(EXAMPLES / "birds-b.json", d / "ok.json")

        def variant(name: str, mutate) -> Path:
            e = json.loads(base_text)
            text = mutate(e)
            (d / name).write_text(text if isinstance(text, str) else json.dumps(e, allow_nan=True))
            return d / name

        def set_first(value):
            def m(e):
                e["hessian"][0] = value
            return m

        variant("nan.json", set_first(float("nan")))
        variant("inf.json", set_first(float("inf")))
        variant("overflow.json", lambda e: json.dumps(e).replace(repr(e["hessian"][0]), "1e999", 1))
        def huge(e):
            e["hessian"] = [1e200] * len(e["hessian"])
            e["meta"]["task"] = "huge"

        variant("huge.json", huge)
        variant("negative.json", set_first(-1.0))
        variant("zeros.json", lambda e: e.__setitem__("hessian", [0.0] * len(e["hessian"])))
        (d / "truncated.json").write_text(base_text[: len(base_text) // 2])
        (d / "empty.json").write_text("")
        (d / "notjson.json").write_text("hessian = [1, 2, 3]\n")
        dist = [bin_, "distance"]
        for label, name in [
            ("NaN literal in hessian", "nan.json"),
            ("Infinity literal in hessian", "inf.json"),
            ("1e999 (overflows f64) in hessian", "overflow.json"),
            ("negative Fisher value", "negative.json"),
            ("all-zero hessian", "zeros.json"),
            ("truncated JSON (first half)", "truncated.json"),
            ("zero-byte JSON", "empty.json"),
            ("not JSON", "notjson.json"),
        ]:
            self.case(g, f"distance: {label}", dist + [d / name, d / "ok.json"], bad_file=name)

        # Finite but huge Fisher values: either a clear refusal or the right number. The exact
        # value is computed here with rational arithmetic (no overflow, independent of the CLI).
        ok_h = [float(v) for v in json.loads((d / "ok.json").read_text())["hessian"]]
        exact = paper_cosine_exact([1e200] * len(ok_h), ok_h)
        row = self.case(g, "distance: every Fisher value 1e200 (finite; squares overflow f64)",
                        dist + [d / "huge.json", d / "ok.json"], expect="either", bad_file="huge.json")
        if row.rc == "0":
            got = row.stdout.strip()
            try:
                wrong = abs(float(got) - exact) > 1e-9 * max(1.0, abs(exact))
            except ValueError:
                wrong = True
            row.message = f"printed {got}; exact value {exact:.12g}"
            if wrong:
                row.findings.append(f"silently wrong: printed {got}, exact value {exact:.12g}")
                row.verdict = "FAIL" if row.failures else "finding"

        # Mismatched layouts: a tiny-resnet embedding made above vs the synthetic example.
        tiny = self.work / "tiny-task.json"
        if tiny.exists():
            shutil.copy(tiny, d / "tiny.json")
            self.case(g, "distance: embeddings of different probes (layouts differ)",
                      dist + [d / "tiny.json", d / "ok.json"], bad_file="tiny.json")
            self.case(g, "distance --force: embeddings of different probes",
                      dist + ["--force", d / "tiny.json", d / "ok.json"], bad_file="tiny.json")
        else:
            self.setup_failed(g, "distance: embeddings of different probes", "the tiny-resnet embedding of the "
                              "--skip-bad-images case was not written")
        same = json.loads(base_text)
        same["hessian"] = same["hessian"][:-1]
        same["scale"] = same["scale"][:-1]
        same["layout"][-1]["filters"] -= 1
        (d / "shorter.json").write_text(json.dumps(same))
        self.case(g, "distance: same layer names, one filter fewer", dist + [d / "shorter.json", d / "ok.json"],
                  bad_file="shorter.json")

        # matrix must leave no output when one input is bad.
        out = self.out_dir("matrix-bad")
        self.case(g, "matrix: one truncated embedding among good ones",
                  [bin_, "matrix", EXAMPLES / "birds-a.json", EXAMPLES / "birds-c.json", d / "truncated.json",
                   "--out", out / "m.csv"], bad_file="truncated.json", outputs=[out / "m.csv"], watch=[out])
        out = self.out_dir("matrix-huge")
        row = self.case(g, "matrix: every Fisher value 1e200 in one embedding",
                        [bin_, "matrix", d / "ok.json", d / "huge.json", "--out", out / "m.csv"],
                        expect="either", bad_file="huge.json", outputs=[out / "m.csv"], watch=[out])
        if row.rc == "0":
            try:
                got = (out / "m.csv").read_text().splitlines()[1].split(",")[2]
                wrong = abs(float(got) - exact) > 1e-9 * max(1.0, abs(exact))
            except (OSError, IndexError, ValueError):
                got, wrong = "(unreadable CSV)", True
            row.message = f"wrote {got}; exact value {exact:.12g}"
            if wrong:
                row.findings.append(f"silently wrong: wrote {got}, exact value {exact:.12g}")
                row.verdict = "FAIL" if row.failures else "finding"

        # The other readers of embedding files.
        experts = d / "experts"
        experts.mkdir()
        for name in ("birds-b.json", "birds-c.json"):
            shutil.copy(EXAMPLES / name, experts / name)
        shutil.copy(d / "truncated.json", experts / "truncated.json")
        self.case(g, "select: a truncated embedding in the experts directory",
                  [bin_, "select", "--task", EXAMPLES / "birds-a.json", "--experts", experts], bad_file="truncated.json")
        out = self.out_dir("plot")
        self.case(g, "plot matrix: one truncated embedding",
                  [bin_, "plot", "matrix", EXAMPLES / "birds-a.json", EXAMPLES / "birds-c.json", d / "truncated.json",
                   "--out", out / "fig.png"], bad_file="truncated.json", outputs=[out / "fig.png"], watch=[out])

        # .npy import.
        values = [float(v) for v in base["hessian"]]
        (d / "h.npy").write_bytes(npy_f64(values))
        full = npy_f64(values)
        (d / "truncated.npy").write_bytes(full[: len(full) - 100])
        (d / "header-only.npy").write_bytes(full[:20])
        (d / "nan.npy").write_bytes(npy_f64([float("nan")] + values[1:]))
        for label, name in [
            ("truncated .npy (last 100 bytes cut)", "truncated.npy"),
            (".npy cut inside its header", "header-only.npy"),
            ("NaN in .npy", "nan.npy"),
        ]:
            out = self.out_dir("import-" + name)
            self.case(g, f"import: {label}", [bin_, "import", "--hessian", d / name, "--out", out / "e.json"],
                      bad_file=name, outputs=[out / "e.json"], watch=[out])

        # Distance matrices for cluster.
        names = ["a", "b", "c"]
        rows = [[0, 1, 2], [1, 0, float("nan")], [2, float("nan"), 0]]
        text = "," + ",".join(names) + "\n" + "".join(
            n + "," + ",".join(repr(v) for v in r) + "\n" for n, r in zip(names, rows))
        (d / "nan-matrix.csv").write_text(text.replace("nan", "NaN"))
        (d / "truncated-matrix.csv").write_text(text[: len(text) - 12])
        self.case(g, "cluster: NaN in the distance matrix", [bin_, "cluster", d / "nan-matrix.csv"],
                  bad_file="nan-matrix.csv")
        self.case(g, "cluster: truncated matrix CSV", [bin_, "cluster", d / "truncated-matrix.csv"],
                  bad_file="truncated-matrix.csv")

    def output_dirs(self) -> None:
        g = "output directory"
        bin_ = self.bin
        data = image_folder(self.work / "outdata", ["cat", "dog"], 6)
        previous = (EXAMPLES / "birds-a.json").read_bytes()
        embs = [EXAMPLES / "birds-a.json", EXAMPLES / "birds-b.json", EXAMPLES / "birds-c.json"]
        hessian = self.work / "out-h.npy"
        hessian.write_bytes(npy_f64(json.loads(previous)["hessian"]))

        # Disk full: a 64 KiB tmpfs, filled to the last byte, holding a previous complete output.
        full = self.work / "full"
        full.mkdir()
        mounted, why = mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)])
        if mounted:
            (full / "e.json").write_bytes(previous)
            (full / "m.csv").write_bytes(b",a\na,0\n")
            fill(full / "filler")
            how = "64 KiB tmpfs filled to the last byte"
            preexec_fn = None
        else:
            # No mount: the file-size limit makes every write past 0 bytes fail with EFBIG, the
            # closest thing to a full disk; SIGXFSZ is ignored so the write returns the error.
            (full / "e.json").write_bytes(previous)
            (full / "m.csv").write_bytes(b",a\na,0\n")
            how = f"APPROXIMATED: mount not permitted ({why}); RLIMIT_FSIZE=0 makes writes fail with EFBIG"
            preexec_fn = limit_file_size
        try:
            self.case(g, "embed --out on a full disk", [bin_, "embed", data, *EMBED, "--quiet", "--out", full / "e.json"],
                      bad_file="e.json", outputs=[full / "e.json"], watch=[full], preexec=preexec_fn, note=how)
            self.case(g, "matrix --out on a full disk", [bin_, "matrix", *embs, "--out", full / "m.csv"],
                      bad_file="m.csv", outputs=[full / "m.csv"], watch=[full], preexec=preexec_fn, note=how)
            self.case(g, "import --out on a full disk (new file)",
                      [bin_, "import", "--hessian", hessian, "--out", full / "new.json"],
                      bad_file="new.json", outputs=[full / "new.json"], watch=[full], preexec=preexec_fn, note=how)
        finally:
            if mounted:
                umount(full)

        # Read-only: a tmpfs holding a previous output, remounted read-only.
        ro = self.work / "ro"
        ro.mkdir()
        mounted, why = mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", str(ro)])
        prefix: list[str] = []
        if mounted:
            (ro / "e.json").write_bytes(previous)
            ok, why = mount(["-o", "remount,ro", str(ro)])
            how = "tmpfs remounted read-only"
            if not ok:
                umount(ro)
                mounted = False
        if not mounted:
            (ro / "e.json").write_bytes(previous)
            ro.chmod(0o555)
            drop = self.drop_dac_caps()
            if drop is None and os.geteuid() == 0:
                ro.chmod(0o755)
                self.setup_failed(g, "read-only output directory", f"mount not permitted ({why}) and setpriv "
                                  "cannot drop CAP_DAC_OVERRIDE")
                return
            prefix = drop or []
            how = f"APPROXIMATED: mount not permitted ({why}); directory mode 555" + (
                ", root without CAP_DAC_OVERRIDE via setpriv" if prefix else "")
        try:
            self.case(g, "embed --out in a read-only directory",
                      prefix + [bin_, "embed", data, *EMBED, "--quiet", "--out", ro / "e.json"],
                      bad_file="e.json", outputs=[ro / "e.json"], watch=[ro], note=how)
            self.case(g, "matrix --out in a read-only directory", prefix + [bin_, "matrix", *embs, "--out", ro / "m.csv"],
                      bad_file="m.csv", outputs=[ro / "m.csv"], watch=[ro], note=how)
        finally:
            if mounted:
                umount(ro)
            else:
                ro.chmod(0o755)
        out = self.work / "no" / "such" / "dir"
        self.case(g, "--out in a directory that does not exist", [bin_, "matrix", *embs, "--out", out / "m.csv"],
                  bad_file="m.csv", outputs=[out / "m.csv"])

    def interrupts(self) -> None:
        g = "interrupt"
        # Large enough that embed runs for several seconds on 2 cores.
        data = image_folder(self.work / "longdata", ["a", "b", "c"], 200)
        previous = (EXAMPLES / "birds-a.json").read_bytes()
        for sig in (signal.SIGINT, signal.SIGKILL):
            out = self.out_dir(f"embed-{sig.name}")
            target = out / "e.json"
            target.write_bytes(previous)
            argv = [str(a) for a in [self.bin, "embed", data, *EMBED, "--input-size", "64", "--out", target]]
            row = Row(g, f"{sig.name} mid-embed (0.3 s after its first stage ends), previous output in place",
                      self.show(argv), "killed")
            before = {out: set(os.listdir(out))}
            # Killed 0.3 s after the first stage reports "... (N s)": inside the next stage.
            o = self.interrupt(argv, sig, started=lambda line: re.search(r"\(\d+(\.\d+)? s\)$", line.strip()))
            self.judge(row, o, bad_file=None, outputs={target: previous}, watch=[out], before=before, sent=sig)
            self.rows.append(row)

        for sig in (signal.SIGINT, signal.SIGKILL):
            self.reproduce_interrupted(sig)
        self.reproduce_degenerate()

    def interrupt(self, argv: list[str], sig: int, started, after=None, env: dict | None = None) -> Outcome:
        """Runs argv in its own process group; when `started(stderr line)` holds (or `after()`
        does, polled), sends `sig` to the group, as a terminal's Ctrl-C (or the OOM killer)
        would."""
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                             start_new_session=True, cwd=self.work,
                             env={**os.environ, **(env or {})})
        lines: list[str] = []
        fired = threading.Event()

        def read() -> None:
            for line in p.stderr:
                lines.append(line)
                if after is None and started(line):
                    fired.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        out_text: list[str] = []
        threading.Thread(target=lambda: out_text.append(p.stdout.read()), daemon=True).start()
        deadline = t0 + CASE_TIMEOUT_S
        while p.poll() is None and time.monotonic() < deadline:
            if fired.is_set() or (after is not None and after()):
                if after is None:
                    time.sleep(0.3)  # well inside the next stage
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass
                break
            time.sleep(0.05)
        try:
            rc = p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = None
        reader.join(timeout=5)
        return Outcome(rc, "".join(lines), "".join(out_text), time.monotonic() - t0)

    def reproduce_setup(self, name: str, signal_in_images: bool) -> tuple[Path, list[str], Path, int]:
        """A 4-task suite `robust-<name>` over a local stand-in for a fetched source (its own
        $TASK2VEC_HOME), and the reproduce command line for it."""
        home = self.work / f"home-{name}"
        src = home / "datasets" / "fashion-mnist"
        image_folder(src, ["A", "B", "C", "D", "E", "F"], 30, signal=signal_in_images)
        # The marker `cargo xtask fetch` writes; reproduce then uses the folder as fetched.
        (src / "FETCHED.toml").write_text("# stand-in written by ci/robustness.py\n")
        suite = self.work / f"suite-{name}.toml"
        tasks = [("ab", ["A", "B"], "x"), ("cd", ["C", "D"], "x"), ("ef", ["E", "F"], "y"), ("ace", ["A", "C", "E"], "y")]
        suite.write_text(f'name = "robust-{name}"\nseed = 0\n' + "".join(
            f'\n[[task]]\nid = "r/{i}"\nsource = "fashion-mnist"\ntaxonomy = ["r", "{t}", "{i}"]\n'
            f"max_samples = 60\nclasses = {json.dumps(c)}\n" for i, c, t in tasks))
        out = self.work / f"reproduce-{name}"
        argv = [str(self.xtask), "reproduce", "--suite", str(suite), "--probe", "tiny-resnet",
                "--image-size", "32", "--out", str(out)]
        return home, argv, out, len(tasks)

    def reproduce_degenerate(self) -> None:
        """Every task trivially separable: every probe error is 0, so E3's correlation has a
        constant sample. The embeddings are fine; the report should say what it cannot compute."""
        g = "degenerate suite"
        label = "`reproduce` on a suite whose tasks all have probe error 0 (E3 correlation undefined)"
        if not self.xtask.is_file():
            self.setup_failed(g, label, f"{self.clean(str(self.xtask))} is missing (cargo build --workspace)")
            return
        home, argv, out, _ = self.reproduce_setup("degenerate", signal_in_images=True)
        row = Row(g, label, self.show(argv), "success")
        o = self.run(argv, env={"TASK2VEC_HOME": str(home)})
        self.judge(row, o, bad_file=None, outputs={out / "REPORT.md": None}, watch=[], before={})
        left = partial_files(out)
        if left:
            row.failures.append("partial/temp files: " + ", ".join(self.clean(str(p)) for p in left))
            row.verdict = "FAIL"
        self.rows.append(row)

    def reproduce_interrupted(self, sig: int) -> None:
        """`cargo xtask reproduce` on a 4-task suite over a local stand-in for a fetched source,
        interrupted once the first task is finished, then run again: the finished task must be
        kept as it was (not recomputed), every task must finish, and no partial file may exist."""
        g = "interrupt"
        label = f"{sig.name} mid-`reproduce` (after its first task), then resumed"
        if not self.xtask.is_file():
            self.setup_failed(g, label, f"{self.clean(str(self.xtask))} is missing (cargo build --workspace)")
            return
        home, argv, out, n_tasks = self.reproduce_setup(sig.name.lower(), signal_in_images=False)
        # Results live in the run's content-addressed store; a task's entry holds result.json
        # (E0's twins are separate entries holding retest.json).
        run_dir = out / "store" / "entries"
        tasks = range(n_tasks)
        row = Row(g, label, self.show(argv), "killed")
        first = self.interrupt(argv, sig, started=None, env={"TASK2VEC_HOME": str(home)},
                               after=lambda: run_dir.is_dir() and any(run_dir.glob("*/result.json")))
        self.judge(row, first, bad_file=None, outputs={}, watch=[], before={}, sent=sig)
        finished = sorted(p.parent for p in run_dir.glob("*/result.json")) if run_dir.is_dir() else []
        problems = partial_files(out)
        snapshot = {p: (p.stat().st_mtime_ns, p.read_bytes()) for d in finished for p in d.iterdir()}
        resumed = self.run(argv, env={"TASK2VEC_HOME": str(home)})
        notes = [f"{len(finished)} of {len(tasks)} tasks finished when killed"]
        if problems:
            row.failures.append("partial/temp files after the kill: " + ", ".join(self.clean(str(p)) for p in problems))
        if resumed.rc != 0:
            row.failures.append(f"resumed run failed (exit {resumed.rc}): "
                                f"{self.clean(self.first_problem_line(resumed.stderr))}")
        else:
            changed = [p for p, (mtime, data) in snapshot.items()
                       if not p.exists() or p.stat().st_mtime_ns != mtime or p.read_bytes() != data]
            if not finished:
                row.failures.append("no task had finished: resumption not tested")
            elif changed:
                row.failures.append("finished tasks were rewritten on resume: " +
                                    ", ".join(self.clean(str(p)) for p in changed))
            else:
                notes.append("finished tasks kept byte for byte (not recomputed)")
            done = len(list(run_dir.glob("*/result.json")))
            if done != len(tasks) or not (out / "REPORT.md").is_file():
                row.failures.append(f"after resuming: {done} of {len(tasks)} tasks, REPORT.md "
                                    f"{'present' if (out / 'REPORT.md').is_file() else 'missing'}")
            else:
                notes.append(f"resume finished all {len(tasks)} + REPORT.md")
        left = partial_files(out)
        if left:
            row.failures.append("partial/temp files after resuming: " + ", ".join(self.clean(str(p)) for p in left))
        else:
            notes.append("no partial or temp files")
        row.output = "; ".join(notes)
        row.seconds += resumed.seconds
        row.verdict = "FAIL" if row.failures else ("finding" if row.findings else "ok")
        self.rows.append(row)


def message_findings(message: str) -> list[str]:
    """Objective defects of a one-line error message."""
    found = []
    if len(message) > 300:
        found.append(f"message is {len(message)} characters long")
    parts = [p.strip() for p in message.split(": ") if len(p.strip()) >= 8]
    for i, part in enumerate(parts):
        if any(part in earlier for earlier in parts[:i]):
            found.append(f"message repeats `{part[:60]}`")
            break
    if TEMP_NAME.search(message):
        found.append("message names a temporary file the user never sees")
    return found


def paper_cosine_exact(h0: list[float], h1: list[float], eps: float = 1e-8) -> float:
    """The paper's symmetric distance cos(h0/(h0+h1+eps), h1/(h0+h1+eps)) (SciPy's cosine
    distance), in exact rational arithmetic."""
    from fractions import Fraction

    e = Fraction(eps)
    xs, ys = [], []
    for a, b in zip(h0, h1):
        s = Fraction(a) + Fraction(b) + e
        xs.append(Fraction(a) / s)
        ys.append(Fraction(b) / s)
    xy = sum(x * y for x, y in zip(xs, ys))
    xx = sum(x * x for x in xs)
    yy = sum(y * y for y in ys)
    return 1.0 - math.sqrt(float(xy * xy / (xx * yy)))


def partial_files(root: Path) -> list[Path]:
    """Temporary files (`.tmp*`, `.*.tmp`) and JSON files that do not parse, under root."""
    bad = []
    if not root.is_dir():
        return bad
    for p in root.rglob("*"):
        if not p.is_file():
            continue
        if p.name.startswith(".tmp") or p.name.endswith(".tmp") or p.name.startswith("."):
            bad.append(p)
        elif p.suffix == ".json":
            try:
                json.loads(p.read_text())
            except (ValueError, UnicodeDecodeError):
                bad.append(p)
    return sorted(bad)


def mount(args: list[str]) -> tuple[bool, str]:
    if shutil.which("mount") is None:
        return False, "no mount command"
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    return r.returncode == 0, (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[0].strip()


def umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True)


def fill(path: Path) -> None:
    """Writes zeros into path until the file system refuses another byte."""
    with open(path, "wb", buffering=0) as f:
        for size in (4096, 1):
            while True:
                try:
                    f.write(b"\0" * size)
                except OSError:
                    break


def cap_address_space() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (16 << 30, 16 << 30))


def limit_file_size() -> None:
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


# ---------------------------------------------------------------------------------------------


def markdown(rows: list[Row]) -> str:
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")
    n_fail = sum(r.verdict == "FAIL" for r in rows)
    n_find = sum(r.verdict == "finding" for r in rows)
    out = [
        "# Robustness: what the CLI does with bad input",
        "",
        "<!-- Generated by `python3 ci/robustness.py`; do not edit by hand. -->",
        "",
        "Every row is a run of the real `task2vec` binary (or `cargo xtask reproduce`) on a bad",
        "input that `ci/robustness.py` builds in a scratch directory (`$W`). *Exit* is the exit",
        "code; *Message* is the first stderr line that says what is wrong; *Names file* says",
        "whether the message names the bad file (or option); *Output* is what the output directory held",
        "afterwards: no file, or the previous complete file byte for byte, and no temporary files.",
        "*Verdict*: `ok`; `finding` (no crash, but the message or the result is poor: see the",
        "notes); `FAIL` (a panic, a hang, a partial or temporary file, a lost previous output).",
        "CI fails on any `FAIL`.",
        "",
        "Root ignores file modes, so the unreadable-file cases run the CLI as root *without*",
        "`CAP_DAC_OVERRIDE`/`CAP_DAC_READ_SEARCH` (util-linux `setpriv`), which makes mode 000 as",
        "binding as for an ordinary user. The full and read-only directories are tmpfs mounts; where",
        "mounting is not permitted the row says how the case was approximated. `cargo xtask` is run",
        "as its binary (`target/debug/xtask`, what the alias runs) so that the signal reaches it rather",
        "than cargo; each interrupted `reproduce` runs on a 4-task suite over a local stand-in for a",
        "fetched source (its own `$TASK2VEC_HOME`), is killed as soon as its first task is finished,",
        "then run again to the end.",
        "",
        f"{len(rows)} cases: {len(rows) - n_fail - n_find} ok, {n_find} findings, {n_fail} FAIL.",
        "",
    ]
    group = None
    for r in rows:
        if r.group != group:
            group = r.group
            out += ["", f"## {group}", "", "| Case | Command | Exit | Message | Names file | Output | Verdict |",
                    "|---|---|---|---|---|---|---|"]
        verdict = r.verdict
        notes = r.failures + r.findings
        if notes:
            verdict += ": " + "; ".join(notes)
        out.append("| " + " | ".join(esc(x) for x in [
            r.case, f"`{r.command}`" if r.command else "", r.rc, r.message or "—", r.names_file or "—",
            r.output, verdict]) + " |")
    out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-build", action="store_true", help="use the binaries in target/debug as they are")
    ap.add_argument("--out", default=str(ROOT / "docs" / "robustness.md"))
    ap.add_argument("--strict", action="store_true", help="findings fail too")
    ap.add_argument("--only", help="run only this group (images, options, weights, embeddings, suites, output, interrupt)")
    args = ap.parse_args()
    if not args.no_build:
        # Same feature unification as the tests: --workspace (see ARCHITECTURE.md).
        subprocess.run(["cargo", "build", "--workspace", "--locked", "--bins"], cwd=ROOT, check=True)
    bin_path = ROOT / "target" / "debug" / "task2vec"
    xtask_path = ROOT / "target" / "debug" / "xtask"
    for p in [bin_path]:
        if not p.is_file():
            print(f"robustness: {p} is missing; build with `cargo build --workspace --locked`", file=sys.stderr)
            return 1
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="t2v-robustness-") as tmp:
        work = Path(tmp)
        sweep = Sweep(work, bin_path, xtask_path)
        groups = [("images", sweep.images), ("options", sweep.embed_options), ("weights", sweep.weights),
                  ("embeddings", sweep.embeddings), ("suites", sweep.suites),
                  ("output", sweep.output_dirs), ("interrupt", sweep.interrupts)]
        for name, fn in groups:
            if args.only and name != args.only:
                continue
            t = time.monotonic()
            fn()
            print(f"robustness: {name}: {time.monotonic() - t:.1f} s", file=sys.stderr)
        rows = sweep.rows
        # Modes 000 would stop TemporaryDirectory's cleanup as a non-root user.
        for p in work.rglob("*"):
            if not p.is_symlink():
                try:
                    p.chmod(0o755)
                except OSError:
                    pass
    seconds = time.monotonic() - start
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp_out = Path(args.out).with_name("." + Path(args.out).name + ".tmp")
    tmp_out.write_text(markdown(rows))
    tmp_out.replace(args.out)
    fails = [r for r in rows if r.verdict == "FAIL"]
    finds = [r for r in rows if r.verdict == "finding"]
    for r in fails + finds:
        print(f"robustness: {r.verdict}: {r.group}: {r.case}: {'; '.join(r.failures + r.findings)}\n"
              f"    {r.command}", file=sys.stderr)
    print(f"robustness: {len(rows)} cases, {len(fails)} FAIL, {len(finds)} findings, {seconds:.0f} s; "
          f"wrote {args.out}", file=sys.stderr)
    return 1 if fails or (args.strict and finds) else 0


if __name__ == "__main__":
    sys.exit(main())
