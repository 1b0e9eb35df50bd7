#!/usr/bin/env python3
"""Writes the Slurm test's suite: 6 small ImageFolder datasets (16x16 RGB PNG, one subfolder per
class) in two taxonomy groups, and OUT/suite.toml listing them with `dataset = "data/..."`.

Standard library only (zlib + struct PNG writer); deterministic (seeded), so every run writes the
same bytes. Usage: make_suite.py OUT [--images N] [--size S]
N images per dataset (split evenly over its classes), default 240: about 0.8 s per task with
tiny-resnet at --input-size 32 on one core, long enough to kill an array element mid-task.
"""
import argparse
import math
import random
import struct
import zlib
from pathlib import Path


def png(width, height, pixels):
    """PNG bytes of an 8-bit RGB image; pixels[y][x] = (r, g, b)."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def clamp(v):
    return max(0, min(255, int(round(v))))


# Group "stripes": class = stripe orientation, dataset = stripe period and colours.
def stripes(orient, period, fg, bg):
    def draw(x, y, rng, phase):
        t = {"h": y, "v": x, "d": x + y, "a": x - y}[orient] + phase
        return fg if (t // period) % 2 == 0 else bg
    return draw


# Group "shapes": class = shape, dataset = colour scheme and size.
def shape(kind, radius, fg, bg):
    def draw(x, y, rng, phase):
        cx, cy = 7.5 + (phase % 3) - 1, 7.5 + (phase // 3 % 3) - 1
        dx, dy = x - cx, y - cy
        inside = {
            "disc": math.hypot(dx, dy) <= radius,
            "square": max(abs(dx), abs(dy)) <= radius,
            "cross": min(abs(dx), abs(dy)) <= 1.5 and max(abs(dx), abs(dy)) <= radius + 1,
        }[kind]
        return fg if inside else bg
    return draw


RED, GREEN, BLUE = (220, 40, 40), (40, 200, 60), (40, 70, 220)
WHITE, BLACK, YELLOW, GREY = (240, 240, 240), (15, 15, 15), (230, 210, 30), (120, 120, 120)

DATASETS = [
    # (id, taxonomy, {class: painter})
    ("stripes/fine", ["stripes", "fine"],
     {"horizontal": stripes("h", 1, BLACK, WHITE), "vertical": stripes("v", 1, BLACK, WHITE)}),
    ("stripes/wide", ["stripes", "wide"],
     {"horizontal": stripes("h", 3, RED, YELLOW), "vertical": stripes("v", 3, RED, YELLOW),
      "diagonal": stripes("d", 3, RED, YELLOW)}),
    ("stripes/diagonal", ["stripes", "diagonal"],
     {"up": stripes("d", 2, BLUE, WHITE), "down": stripes("a", 2, BLUE, WHITE)}),
    ("shapes/red", ["shapes", "red"],
     {"disc": shape("disc", 4, RED, BLACK), "square": shape("square", 3.5, RED, BLACK)}),
    ("shapes/green", ["shapes", "green"],
     {"disc": shape("disc", 5, GREEN, GREY), "square": shape("square", 4, GREEN, GREY),
      "cross": shape("cross", 5, GREEN, GREY)}),
    ("shapes/small", ["shapes", "small"],
     {"disc": shape("disc", 2.5, WHITE, BLUE), "cross": shape("cross", 3, WHITE, BLUE)}),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--images", type=int, default=240)
    ap.add_argument("--size", type=int, default=16)
    args = ap.parse_args()
    rng = random.Random(20261201)
    lines = ['name = "slurm-ci"',
             'description = "ci/slurm/test.sh: six synthetic ImageFolder tasks in two groups"',
             "seed = 0", ""]
    for task_id, taxonomy, classes in DATASETS:
        folder = "data/" + task_id.replace("/", "-")
        for cls, draw in classes.items():
            cdir = args.out / folder / cls
            cdir.mkdir(parents=True, exist_ok=True)
            for i in range(args.images // len(classes)):
                phase = rng.randrange(9)
                noise = [[rng.gauss(0, 18) for _ in range(3)] for _ in range(args.size * args.size)]
                pixels = []
                for y in range(args.size):
                    row = []
                    for x in range(args.size):
                        base = draw(x * 16 // args.size, y * 16 // args.size, rng, phase)
                        n = noise[y * args.size + x]
                        row.append(tuple(clamp(c + d) for c, d in zip(base, n)))
                    pixels.append(row)
                (cdir / f"{i:03d}.png").write_bytes(png(args.size, args.size, pixels))
        tax = ", ".join(f'"{t}"' for t in taxonomy)
        lines += ["[[task]]", f'id = "{task_id}"', f'dataset = "{folder}"', f"taxonomy = [{tax}]", ""]
    (args.out / "suite.toml").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
