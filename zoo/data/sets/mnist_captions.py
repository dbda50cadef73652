"""mnist-captions: MNIST with captions the zoo writes from what it measures on each image.

Derived, not downloaded: on first use the zoo fetches MNIST, reads both splits and `build`
measures and captions them (`zoo.data.captions`: the measures, thresholds and the nine
phrasings, three held out of training). `recipe.json` records what the build depended on; a
build by another recipe is rebuilt. A split is MNIST's images and labels with their measured
properties and one caption id per phrasing (`zoo.data.captions.CaptionedDataset`).
"""

from __future__ import annotations

from pathlib import Path

from zoo.data.base import Dataset, ImageSet
from zoo.data.sets.mnist import MNIST


class MNISTCaptions(ImageSet):
    name = "mnist-captions"
    summary = ("MNIST with captions naming the digit and its measured thickness, slant, size, position; "
               "3 held-out phrasings")
    classes = MNIST.classes
    in_chans, image_size = MNIST.in_chans, MNIST.image_size
    splits = dict(MNIST.splits)
    mean, std = MNIST.mean, MNIST.std  # the images are MNIST's
    source = "built by the zoo from mnist on first use (zoo.data.captions)"
    directory = "mnist-captions"
    files = {  # recipe.json is written last: a build that stopped half-way has none
        "train": ("recipe.json", "captions.json", "train.safetensors"),
        "test": ("recipe.json", "captions.json", "test.safetensors"),
    }
    derived_from = "mnist"
    recipe_augmentation = False  # MNIST's digits, and captions of their measured slant and position

    def up_to_date(self, root: Path | None = None) -> bool:
        from zoo.data.captions import has_recipe

        return has_recipe(self.path(root))

    def build(self, root: Path, sources: dict[str, Dataset]) -> None:
        from zoo.data.captions import build

        build(self.path(root), {split: (ds.images, ds.labels) for split, ds in sources.items()})

    def read(self, root: Path, split: str) -> Dataset:
        from zoo.data.captions import read_captioned

        return read_captioned(self.path(root), split, self.parent.read_checked(root, split))
