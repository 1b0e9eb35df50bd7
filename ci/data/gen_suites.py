"""Writes datasets/suites/{quick,glyphs,clipart,offline-full,glyphs-sample,labels}.toml (standard library only;
Python >= 3.11).

The glyph tasks come from datasets/taxonomy/glyph-scripts.toml (one task per script, its
taxonomy = ["glyphs"] + the script's family path); the other tasks are listed below. Rerun after
editing either:  python3 ci/data/gen_suites.py
xtask's test `suites_match_their_sources` fails when the suites and the script table disagree.
"""
import pathlib
import random
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = tomllib.loads((ROOT / "datasets/taxonomy/glyph-scripts.toml").read_text())["script"]

FASHION_GROUPS = {
    "tops": ["T-shirt/top", "Pullover", "Coat", "Shirt"],
    "footwear": ["Sandal", "Sneaker", "Ankle boot"],
    "other": ["Trouser", "Dress", "Bag"],
}
# Our own grouping of the Animal-MNIST classes by biological order/suborder.
ANIMAL_TAXONOMY = {
    "Bear": ["mammalia", "carnivora"], "Cat": ["mammalia", "carnivora"], "Dog": ["mammalia", "carnivora"],
    "Cow": ["mammalia", "ungulates", "ruminants"], "Sheep": ["mammalia", "ungulates", "ruminants"],
    "Giraffe": ["mammalia", "ungulates", "ruminants"],
    "Horse": ["mammalia", "ungulates", "equids"], "Zebra": ["mammalia", "ungulates", "equids"],
    "Elephant": ["mammalia", "proboscidea"], "Bird": ["aves"],
}
# Openclipart categories that keep >= 2 subcategories of >= 10 images, grouped (our grouping).
CLIPART = {
    "animals": "living", "plants": "living", "food": "living", "people": "living",
    "buildings": "artefacts", "transportation": "artefacts", "recreation": "artefacts", "computer": "artefacts",
    "shapes": "symbols", "signs_and_symbols": "symbols", "special": "symbols",
}


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lst(xs):
    return "[" + ", ".join(q(x) for x in xs) + "]"


def task(id, source, taxonomy, max_samples, path=None, classes=None, max_classes=None,
         groups=None, label_by=None, tags=None, note=None):
    out = ["[[task]]", f"id = {q(id)}", f"source = {q(source)}"]
    if path:
        out.append(f"path = {q(path)}")
    out.append(f"taxonomy = {lst(taxonomy)}")
    out.append(f"max_samples = {max_samples}")
    if classes:
        out.append(f"classes = {lst(classes)}")
    if max_classes:
        out.append(f"max_classes = {max_classes}")
    if groups:
        g = ", ".join(f"{{ name = {q(n)}, classes = {lst(c)} }}" for n, c in groups.items())
        out.append(f"groups = [{g}]")
    if label_by:
        out.append(f"label_by = {q(label_by)}")
    if tags:
        out.append(f"tags = {lst(tags)}")
    if note:
        out.append(f"note = {q(note)}")
    return "\n".join(out) + "\n"


def fashion_tasks(n):
    ts = [
        task("fashion/all-by-class", "fashion-mnist", ["fashion-mnist"], n,
             note="same images as fashion/all-by-group"),
        task("fashion/all-by-group", "fashion-mnist", ["fashion-mnist"], n, groups=FASHION_GROUPS,
             note="same images as fashion/all-by-class, labelled tops/footwear/other"),
    ]
    for g, cs in FASHION_GROUPS.items():
        ts.append(task(f"fashion/{g}", "fashion-mnist", ["fashion-mnist", g], n, classes=cs))
    ts += [
        task("fashion/shirt-vs-tshirt", "fashion-mnist", ["fashion-mnist", "tops"], n, classes=["Shirt", "T-shirt/top"]),
        task("fashion/coat-vs-pullover", "fashion-mnist", ["fashion-mnist", "tops"], n, classes=["Coat", "Pullover"]),
        task("fashion/sneaker-vs-sandal", "fashion-mnist", ["fashion-mnist", "footwear"], n, classes=["Sneaker", "Sandal"]),
        task("fashion/boot-vs-sneaker", "fashion-mnist", ["fashion-mnist", "footwear"], n, classes=["Ankle boot", "Sneaker"]),
    ]
    return ts


def animal_tasks(n):
    return [
        task("animals/all", "animal-mnist", ["animal-mnist"], n),
        task("animals/carnivora", "animal-mnist", ["animal-mnist", "mammalia", "carnivora"], n, classes=["Bear", "Cat", "Dog"]),
        task("animals/ungulates", "animal-mnist", ["animal-mnist", "mammalia", "ungulates"], n,
             classes=["Cow", "Sheep", "Giraffe", "Horse", "Zebra"], note="same images as animals/ungulates-by-suborder"),
        task("animals/ungulates-by-suborder", "animal-mnist", ["animal-mnist", "mammalia", "ungulates"], n,
             classes=["Cow", "Sheep", "Giraffe", "Horse", "Zebra"],
             groups={"ruminants": ["Cow", "Sheep", "Giraffe"], "equids": ["Horse", "Zebra"]},
             note="same images as animals/ungulates, labelled ruminant vs equid"),
        task("animals/ruminants", "animal-mnist", ["animal-mnist", "mammalia", "ungulates", "ruminants"], n, classes=["Cow", "Sheep", "Giraffe"]),
        task("animals/equids", "animal-mnist", ["animal-mnist", "mammalia", "ungulates", "equids"], n, classes=["Horse", "Zebra"]),
        task("animals/bird-vs-elephant", "animal-mnist", ["animal-mnist"], n, classes=["Bird", "Elephant"]),
    ]


def mnist_tasks(n):
    digits = [str(d) for d in range(10)]
    return [
        task("mnist/all-by-digit", "mnist", ["mnist"], n, note="same images as mnist/all-by-parity"),
        task("mnist/all-by-parity", "mnist", ["mnist"], n,
             groups={"even": ["0", "2", "4", "6", "8"], "odd": ["1", "3", "5", "7", "9"]},
             note="same images as mnist/all-by-digit, labelled even vs odd"),
        task("mnist/3-5-8", "mnist", ["mnist", "curved"], n, classes=["3", "5", "8"]),
        task("mnist/0-6-9", "mnist", ["mnist", "curved"], n, classes=["0", "6", "9"]),
        task("mnist/1-4-7", "mnist", ["mnist", "straight"], n, classes=["1", "4", "7"]),
        task("mnist/0-1", "mnist", ["mnist"], n, classes=["0", "1"]),
    ]


def glyph_tasks(n):
    ts = []
    for s in SCRIPTS:
        ts.append(task(f"glyphs/{s['name']}", "glyphs", ["glyphs"] + s["family"], n, path=s["name"]))
    # Same images, different labels: letters vs font style.
    for name, tags in [("Latin", ["regular", "bold", "italic", "bolditalic"]),
                       ("Greek", ["regular", "bold", "italic", "bolditalic"]),
                       ("Cyrillic", ["regular", "bold", "italic", "bolditalic"]),
                       ("Arabic", ["regular", "bold"]),
                       ("Devanagari", ["regular", "bold"])]:
        fam = next(s["family"] for s in SCRIPTS if s["name"] == name)
        ts.append(task(f"glyphs/{name}-by-letter", "glyphs", ["glyphs"] + fam, n, path=name, max_classes=10,
                       tags=tags, note=f"same images as glyphs/{name}-by-style"))
        ts.append(task(f"glyphs/{name}-by-style", "glyphs", ["glyphs", "font-style"], n, path=name, max_classes=10,
                       label_by="file-tag", tags=tags, note=f"same images as glyphs/{name}-by-letter, labelled by font style"))
    return ts


def clipart_tasks(n):
    # `food` itself is clipart/food-by-kind below (one task, not two identical ones).
    ts = [task(f"clipart/{c}", "openclipart", ["openclipart", g, c], n, path=c)
          for c, g in CLIPART.items() if c != "food"]
    ts += [
        task("clipart/food-by-kind", "openclipart", ["openclipart", "living", "food"], n, path="food",
             note="same images as clipart/food-sweet-vs-savoury"),
        task("clipart/food-sweet-vs-savoury", "openclipart", ["openclipart", "living", "food"], n, path="food",
             groups={"sweet": ["desserts", "fruit"], "savoury": ["breads_and_carbs", "meats_and_eggs", "vegetables"],
                     "drinks": ["beverages"]},
             note="same images as clipart/food-by-kind, labelled sweet/savoury/drinks"),
        task("clipart/animals-small", "openclipart", ["openclipart", "living", "animals"], n, path="animals",
             classes=["birds", "fish", "bugs"]),
    ]
    return ts


HEADER = """# Generated by ci/data/gen_suites.py from datasets/taxonomy/glyph-scripts.toml: edit the generator,
# not this file. Sources: `cargo xtask fetch {sources}`.
# taxonomy = ancestors, root first (the source, then our grouping); Task::taxonomic_distance counts
# levels to the closest common ancestor. Tasks with a `note` "same images as …" come in pairs that
# share their images and differ only in labels (the paper's Fig. 1 point).
"""


def write(name, description, tasks, sources):
    text = HEADER.format(sources=" / ".join(sources)) + f"name = {q(name)}\ndescription = {q(description)}\nseed = 0\n"
    text += "".join("\n" + t for t in tasks)
    (ROOT / "datasets/suites" / f"{name}.toml").write_text(text)
    print(name, len(tasks), "tasks")


quick = [
    task("fashion/footwear", "fashion-mnist", ["fashion-mnist", "footwear"], 300, classes=FASHION_GROUPS["footwear"]),
    task("fashion/tops", "fashion-mnist", ["fashion-mnist", "tops"], 300, classes=FASHION_GROUPS["tops"]),
    task("fashion/other", "fashion-mnist", ["fashion-mnist", "other"], 300, classes=FASHION_GROUPS["other"]),
    task("fashion/mixed-by-class", "fashion-mnist", ["fashion-mnist"], 300, classes=["Sandal", "Sneaker", "Pullover", "Coat"],
         note="same images as fashion/mixed-by-group"),
    task("fashion/mixed-by-group", "fashion-mnist", ["fashion-mnist"], 300, classes=["Sandal", "Sneaker", "Pullover", "Coat"],
         groups={"footwear": ["Sandal", "Sneaker"], "tops": ["Pullover", "Coat"]},
         note="same images as fashion/mixed-by-class, labelled footwear vs tops"),
    task("animals/carnivora", "animal-mnist", ["animal-mnist", "mammalia", "carnivora"], 300, classes=["Bear", "Cat", "Dog"]),
    task("animals/ruminants", "animal-mnist", ["animal-mnist", "mammalia", "ungulates", "ruminants"], 300, classes=["Cow", "Sheep", "Giraffe"]),
    task("animals/equids", "animal-mnist", ["animal-mnist", "mammalia", "ungulates", "equids"], 300, classes=["Horse", "Zebra"]),
    task("mnist/3-5-8", "mnist", ["mnist", "curved"], 300, classes=["3", "5", "8"]),
    task("mnist/1-4-7", "mnist", ["mnist", "straight"], 300, classes=["1", "4", "7"]),
]
write("quick", "10 small tasks (2-5 classes, <= 300 images) from the three MNIST-like sources, which fetch in seconds",
      quick, ["fashion-mnist", "animal-mnist", "mnist"])
full = fashion_tasks(1000) + animal_tasks(1000) + mnist_tasks(1000) + glyph_tasks(640) + clipart_tasks(1000)
write("offline-full", "every offline source: one task per writing system, clip-art category, and MNIST-family groups, "
      "plus same-images/different-labels pairs", full, ["fashion-mnist", "animal-mnist", "mnist", "glyphs", "openclipart"])
write("glyphs", "one task per writing system rendered from Noto fonts (classes = letters), plus letter-vs-style pairs "
      "on the same images; the taxonomy is the writing-system family tree", glyph_tasks(320), ["glyphs"])
write("clipart", "Openclipart categories (classes = subcategories) grouped into living things / artefacts / symbols, "
      "plus a same-images pair", clipart_tasks(500), ["openclipart"])
# A subset of `glyphs` that runs in about half an hour: every alphabet, then every 4th other
# script in table order (abjads, abugidas, syllabaries, logographies), so each type is present.
alphabets = [s for s in SCRIPTS if s["family"][0] == "alphabet"]
others = [s for s in SCRIPTS if s["family"][0] != "alphabet"][::4]
write("glyphs-sample", "every alphabet and every 4th other writing system of the glyphs suite (classes = letters)",
      [task(f"glyphs/{s['name']}", "glyphs", ["glyphs"] + s["family"], 320, path=s["name"]) for s in alphabets + others],
      ["glyphs"])


# `labels`: tasks that share one image pool and differ only in their labels (the paper's Fig. 1
# claim, tested directly). All tasks of a pool have the same source, path, selection (`classes`,
# `tags`), sample budget and seed, and their groups cover every class of the pool, so
# Task::build (subsample before relabelling) gives every one of them the same images; the ground
# truth between two of them is the partition distance of their labellings (variation of
# information, task2vec_embedding::partition). Random partitions are drawn here, from a fixed
# seed, and written out as explicit groups.
LABELS_RNG = random.Random(0)


def random_partition(items, k):
    """`items` shuffled by LABELS_RNG and dealt into k groups of (nearly) equal size."""
    items = list(items)
    LABELS_RNG.shuffle(items)
    return {f"part-{g + 1}": items[g::k] for g in range(k)}


FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGITS = [str(d) for d in range(10)]
# The Latin letters `cargo xtask fetch glyphs` renders: glyphs.rs spreads the 52 letters of
# U+0041..U+007A over MAX_CLASSES = 20 (items[i * 52 // 20]); class folders are `U+XXXX`.
LATIN = [c for c in map(chr, range(0x41, 0x7B)) if c.isalpha()]
LATIN = [LATIN[i * len(LATIN) // 20] for i in range(20)]


def u(c):
    return f"U+{ord(c):04X}"


def pool(prefix, source, n, labellings, path=None, tags=None, taxonomy=None):
    """One task per labelling of the same images; the first is the reference the others'
    notes name."""
    first = f"{prefix}/{labellings[0][0]}"
    ts = []
    for i, (name, kind, rule, what) in enumerate(labellings):
        note = what if i == 0 else f"same images as {first}, labelled {what}"
        kw = {"groups": rule} if kind == "groups" else ({"label_by": "file-tag"} if kind == "tag" else {})
        ts.append(task(f"{prefix}/{name}", source, taxonomy or [source], n, path=path, tags=tags, note=note, **kw))
    return ts


def singletons(classes, merged):
    """Every class its own group, except `merged` (one group)."""
    g = {"+".join(merged): list(merged)}
    g.update({c: [c] for c in classes if c not in merged})
    return g


labels_fashion = pool("fashion", "fashion-mnist", 300, [
    ("by-class", "class", None, "by class (10-way)"),
    ("shirts-merged", "groups", singletons(FASHION, ["T-shirt/top", "Shirt"]),
     "by class with T-shirt/top and Shirt merged (9-way)"),
    ("by-garment", "groups", {"tops": ["T-shirt/top", "Pullover", "Coat", "Shirt"], "trousers-and-dresses": ["Trouser", "Dress"],
                              "shoes": ["Sandal", "Sneaker", "Ankle boot"], "bags": ["Bag"]},
     "tops / trousers and dresses / shoes / bags"),
    ("upper-body", "groups", {"upper-body": ["T-shirt/top", "Pullover", "Coat", "Shirt", "Dress"],
                              "other": ["Trouser", "Sandal", "Sneaker", "Bag", "Ankle boot"]},
     "worn on the upper body (tops, dresses) vs not"),
    ("footwear", "groups", {"footwear": ["Sandal", "Sneaker", "Ankle boot"],
                            "other": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Shirt", "Bag"]},
     "footwear vs the rest"),
    ("random-5", "groups", random_partition(FASHION, 5), "by a seeded random partition of the classes into 5 pairs"),
    ("random-2", "groups", random_partition(FASHION, 2), "by a seeded random partition of the classes into two halves"),
])
labels_mnist = pool("mnist", "mnist", 300, [
    ("by-digit", "class", None, "by digit (10-way)"),
    ("parity", "groups", {"even": DIGITS[0::2], "odd": DIGITS[1::2]}, "even vs odd"),
    ("at-least-5", "groups", {"below-5": DIGITS[:5], "at-least-5": DIGITS[5:]}, "digit < 5 vs >= 5"),
    ("mod-3", "groups", {f"mod3-{r}": DIGITS[r::3] for r in range(3)}, "by digit mod 3"),
    ("loops", "groups", {"loops": ["0", "6", "8", "9"], "no-loops": ["1", "2", "3", "4", "5", "7"]},
     "digits drawn with a closed loop (0 6 8 9; 4 is usually open in handwriting) vs none"),
    ("random-5", "groups", random_partition(DIGITS, 5), "by a seeded random partition of the digits into 5 pairs"),
])
# File tags of the glyph files are font styles; `label_by = "file-tag"` gives each tag its own
# label, so a weight labelling (regular+italic vs bold+bolditalic) cannot be written without
# merging tags, which suites do not support.
latin = [u(c) for c in LATIN]
labels_glyphs = pool("glyphs", "glyphs", 320, [
    ("Latin-by-letter", "class", None, "by letter, case kept (20-way)"),
    ("Latin-by-letter-any-case", "groups", {c.upper(): [u(c.upper()), u(c.lower())] for c in LATIN if c.isupper()},
     "by letter, upper and lower case merged (10-way)"),
    ("Latin-by-case", "groups", {"upper": [u(c) for c in LATIN if c.isupper()], "lower": [u(c) for c in LATIN if c.islower()]},
     "upper vs lower case"),
    ("Latin-vowels", "groups", {"vowels": [u(c) for c in LATIN if c in "AEIOUaeiou"],
                                "consonants": [u(c) for c in LATIN if c not in "AEIOUaeiou"]},
     "vowels vs consonants"),
    ("Latin-by-style", "tag", None, "by font style (regular / bold / italic / bold italic, the file tag)"),
    ("Latin-random-5", "groups", random_partition(latin, 5), "by a seeded random partition of the letters into 5 groups of 4"),
], path="Latin", tags=["regular", "bold", "italic", "bolditalic"])
write("labels", "tasks on three fixed image pools (Fashion-MNIST, MNIST, Latin glyphs) that differ only in their "
      "labels; ground truth = the partition distance between two labellings of one pool",
      labels_fashion + labels_mnist + labels_glyphs, ["fashion-mnist", "mnist", "glyphs"])
