"""Writes datasets/suites/{quick,glyphs,clipart,offline-full}.toml (standard library only; Python >= 3.11).

The glyph tasks come from datasets/taxonomy/glyph-scripts.toml (one task per script, its
taxonomy = ["glyphs"] + the script's family path); the other tasks are listed below. Rerun after
editing either:  python3 ci/data/gen_suites.py
xtask's test `suites_match_their_sources` fails when the suites and the script table disagree.
"""
import pathlib
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
