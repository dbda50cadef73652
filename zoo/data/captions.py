"""`mnist-captions`: MNIST with captions the zoo writes itself from what it measures on each image.

Every image gets one caption per template. A caption names the digit (as a word or a numeral)
and only the properties the image clearly has, measured on its pixels:

- stroke thickness: ink area over half the ink's perimeter (pixel edges between ink and
  background). A stroke of width w and length L >> w has area wL and perimeter about 2L, so
  this is w in pixels; "thin" below THIN px, "thick" above THICK px, nothing in between;
- slant: the shear of the intensity's second moments, atan(-mu11 / mu02) in degrees, positive
  when the top leans right (the quantity MNIST deskewing removes); "slanted" above SLANTED,
  "upright" within +-UPRIGHT, "left-leaning" below -LEFT_LEANING;
- size: the ink's bounding box; "small" when it is at most SMALL px high (MNIST scaled most
  digits to 20 px), "wide" when at least WIDE px wide;
- position: the bounding box's centre; "on the left"/"on the right" beyond POSITION px from
  the image centre.

Templates `HELD_OUT` are never shown in training; `zoo eval` measures how a text-to-image model
does on them. The dataset (`zoo.data.sets.mnist_captions`) is built from the cached MNIST on
first use and kept under `$ZOO_HOME/data/mnist-captions/` beside `recipe.json` (version,
thresholds, templates); a recipe of another version is rebuilt.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from zoo.data.base import DataError, Dataset

VERSION = 2
NAME = "mnist-captions"
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PROPERTIES = ("thickness", "slant", "height", "width", "centre_x", "centre_y")

THIN, THICK = 1.70, 2.35  # px; about the lightest and heaviest quarter of MNIST's training digits
SLANTED, UPRIGHT, LEFT_LEANING = 15.0, 4.0, 6.0  # degrees
SMALL, WIDE = 17, 19  # px of bounding-box height / width
POSITION = 1.5  # px between the bounding box's centre and the image's

# (name, text): {a} is the article the next word needs, {word} the digit's name, {num} its
# numeral, {adjs}/{adjs_and} the adjectives (joined by commas / by "and"), {pos} the position.
TEMPLATES = (
    ("handwritten", "{a} {adjs_sp}handwritten {word}{pos}"),
    ("digit", "the digit {num}{comma_adjs_and}"),
    ("short", "{a} {adjs_sp}{word}"),
    ("that_is", "handwritten {num}{that_is}"),
    ("list", "{word}{comma_adjs}{pos}"),
    ("number", "{a} {adjs_sp}number {word}"),
    ("image_of", "an image of {a} {adjs_and_sp}{word}"),
    ("drawn", "{a} {adjs_sp}{num} drawn by hand"),
    ("this_is", "this is the number {word}{comma_adjs_and}"),
)
HELD_OUT = ("image_of", "drawn", "this_is")
TRAINING = tuple(name for name, _ in TEMPLATES if name not in HELD_OUT)

# ---------------------------------------------------------------------- measuring


def measure(images: torch.Tensor) -> torch.Tensor:
    """N x C x H x W uint8 (or float in [0, 1]) -> N x 6 float: PROPERTIES, in pixels and degrees."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    x = x.mean(1)  # N x H x W
    ink = x > 0.5
    n, h, w = x.shape
    area = ink.sum((1, 2)).float()
    padded = torch.nn.functional.pad(ink.float(), (1, 1, 1, 1))
    edges = ((padded[:, 1:, :] != padded[:, :-1, :]).sum((1, 2))
             + (padded[:, :, 1:] != padded[:, :, :-1]).sum((1, 2))).float()
    thickness = torch.where(edges > 0, 2.0 * area / edges.clamp(min=1), torch.zeros_like(area))
    ys = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    mass = x.sum((1, 2)).clamp(min=1e-6)
    cy = (x * ys).sum((1, 2)) / mass
    cx = (x * xs).sum((1, 2)) / mass
    dy, dx = ys - cy.view(-1, 1, 1), xs - cx.view(-1, 1, 1)
    mu11 = (x * dx * dy).sum((1, 2)) / mass
    mu02 = (x * dy * dy).sum((1, 2)) / mass
    slant = torch.rad2deg(torch.atan(-mu11 / mu02.clamp(min=1e-6)))  # y grows downwards: a right lean has mu11 < 0
    r0, r1 = _extent(ink.any(2))
    c0, c1 = _extent(ink.any(1))
    height, width = (r1 - r0 + 1).clamp(min=0), (c1 - c0 + 1).clamp(min=0)
    centre_x = (c0 + c1) / 2.0 - (w - 1) / 2.0
    centre_y = (r0 + r1) / 2.0 - (h - 1) / 2.0
    return torch.stack([thickness, slant, height.float(), width.float(), centre_x, centre_y], 1)


def _extent(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last True index of each row of N x L (0 and -1 for an empty row)."""
    idx = torch.arange(rows.shape[1])
    first = torch.where(rows, idx, rows.shape[1]).min(1).values
    last = torch.where(rows, idx, -1).max(1).values
    empty = ~rows.any(1)
    return torch.where(empty, 0, first).float(), torch.where(empty, -1, last).float()


@dataclass(frozen=True)
class Words:
    """The words a caption may use for one image's measured properties."""

    thickness: str | None
    slant: str | None
    size: str | None
    position: str | None

    @property
    def adjectives(self) -> list[str]:
        return [a for a in (self.thickness, self.slant, self.size) if a]


def words(props) -> Words:
    """One image's PROPERTIES row (a tensor or a list) -> the words it has earned (None: not clearly either way)."""
    thickness, slant, height, width, cx, _ = (float(v) for v in props)
    thick = "thin" if thickness < THIN else "thick" if thickness > THICK else None
    lean = ("slanted" if slant > SLANTED else "upright" if abs(slant) <= UPRIGHT
            else "left-leaning" if slant < -LEFT_LEANING else None)
    size = "small" if height <= SMALL else "wide" if width >= WIDE else None
    pos = "on the left" if cx <= -POSITION else "on the right" if cx >= POSITION else None
    return Words(thick, lean, size, pos)


# ---------------------------------------------------------------------- writing


def _article(next_word: str) -> str:
    return "an" if next_word[:1] in "aeiou8" and not next_word.startswith("one") else "a"


@functools.lru_cache(maxsize=None)  # a few thousand distinct (template, digit, words) for 70,000 images
def caption(template: str, digit: int, w: Words) -> str:
    """The caption `template` (a name from TEMPLATES) writes for `digit` with words `w`."""
    text = dict(TEMPLATES)[template]
    adjs = w.adjectives
    word, num = WORDS[digit], str(digit)
    and_joined = " and ".join(adjs) if len(adjs) < 3 else f"{adjs[0]}, {adjs[1]} and {adjs[2]}"
    fields = {
        "word": word, "num": num,
        "adjs_sp": (", ".join(adjs) + " ") if adjs else "",
        "adjs_and_sp": (and_joined + " ") if adjs else "",
        "comma_adjs": (", " + ", ".join(adjs)) if adjs else "",
        "comma_adjs_and": (", " + and_joined) if adjs else "",
        "that_is": (" that is " + and_joined) if adjs else "",
        "pos": (" " + w.position) if w.position else "",
    }
    after = text.split("{a} ", 1)[1] if "{a} " in text else ""
    first = after.format(**fields).split(" ", 1)[0] if after else ""
    return text.format(a=_article(first), **fields)


def named_digit(prompt: str) -> int | None:
    """The digit a prompt names (word or numeral), or None when it names none or several."""
    tokens = {t.strip(".,;:!?()\"'") for t in prompt.lower().split()}
    found = {d for d, word in enumerate(WORDS) if word in tokens} | {int(t) for t in tokens if len(t) == 1 and t.isdigit()}
    return found.pop() if len(found) == 1 else None


def random_captions(n: int, generator: torch.Generator | None = None,
                    templates: tuple[str, ...] = TRAINING) -> tuple[list[str], torch.Tensor]:
    """n captions of random digits, random property words and random `templates`; and their digits."""
    digits = torch.randint(10, (n,), generator=generator)
    thick = torch.randint(3, (n,), generator=generator)
    lean = torch.randint(4, (n,), generator=generator)
    which = torch.randint(len(templates), (n,), generator=generator)
    out = []
    for d, t, s, k in zip(digits.tolist(), thick.tolist(), lean.tolist(), which.tolist()):
        w = Words((None, "thin", "thick")[t], (None, "slanted", "upright", "left-leaning")[s], None, None)
        out.append(caption(templates[k], d, w))
    return out, digits


# ---------------------------------------------------------------------- the dataset


@dataclass(repr=False)  # Dataset's short repr, not every tensor
class CaptionedDataset(Dataset):
    """A split of mnist-captions: MNIST's images and labels, their measured properties, one caption id per template."""

    properties: torch.Tensor = field(default=None, repr=False)  # N x 6 float32 (PROPERTIES)
    captions: torch.Tensor = field(default=None, repr=False)  # N x len(TEMPLATES) int64, indices into `vocabulary`
    vocabulary: list[str] = field(default_factory=list, repr=False)
    per_example = ("properties", "captions")  # sliced with the images when a 'val' split is held out

    @staticmethod
    def columns(names: tuple[str, ...]) -> list[int]:
        """Columns of `captions` that hold the templates `names`."""
        order = [n for n, _ in TEMPLATES]
        return [order.index(n) for n in names]


def recipe() -> dict:
    """What a build depends on; a cached build with another recipe is rebuilt."""
    return {"version": VERSION, "source": "mnist", "properties": list(PROPERTIES),
            "thresholds": {"thin": THIN, "thick": THICK, "slanted": SLANTED, "upright": UPRIGHT,
                           "left_leaning": LEFT_LEANING, "small": SMALL, "wide": WIDE, "position": POSITION},
            "templates": dict(TEMPLATES), "held_out": list(HELD_OUT)}


def has_recipe(directory: Path) -> bool:
    """Whether the build in `directory` was made by this recipe."""
    try:
        return json.loads((directory / "recipe.json").read_text()) == recipe()
    except (OSError, ValueError):
        return False


def build(directory: Path, mnist: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> Path:
    """Measure and caption both MNIST splits ({split: (images, labels)}) into `directory`."""
    from safetensors.torch import save

    from zoo.data.download import write_atomic

    directory.mkdir(parents=True, exist_ok=True)
    vocabulary: dict[str, int] = {}
    tables = {}
    for split, (images, labels) in mnist.items():
        props = measure(images)
        ids = torch.empty(len(labels), len(TEMPLATES), dtype=torch.int64)
        for i, (row, digit) in enumerate(zip(props.tolist(), labels.tolist())):
            w = words(row)
            for j, (template, _) in enumerate(TEMPLATES):
                ids[i, j] = vocabulary.setdefault(caption(template, digit, w), len(vocabulary))
        tables[split] = {"properties": props.contiguous(), "captions": ids}
    for split, tensors in tables.items():
        write_atomic(directory / f"{split}.safetensors", save(tensors))
    write_atomic(directory / "captions.json", json.dumps(list(vocabulary), indent=0).encode())
    write_atomic(directory / "recipe.json", json.dumps(recipe(), indent=2).encode())  # last: marks it complete
    return directory


def read_captioned(directory: Path, split: str, mnist: Dataset) -> CaptionedDataset:
    """The split ('train' or 'test') built in `directory`, on MNIST's images of that split."""
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(directory / f"{split}.safetensors"))
        vocabulary = json.loads((directory / "captions.json").read_text())
    except Exception as err:  # a truncated or edited file
        raise DataError(f"{NAME} in {directory} is corrupt ({type(err).__name__}); delete the directory to rebuild it") from None
    if len(tensors["captions"]) != len(mnist):
        raise DataError(f"{NAME} in {directory} has {len(tensors['captions'])} rows for {len(mnist)} MNIST images; "
                        "delete the directory to rebuild it")
    return CaptionedDataset(NAME, split, mnist.images, mnist.labels, mnist.classes, mnist.mean, mnist.std, directory,
                            properties=tensors["properties"], captions=tensors["captions"], vocabulary=vocabulary)
