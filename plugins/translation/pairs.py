"""Two-domain datasets: what the `image-to-image` task reads, and how the family's datasets are built.

A two-domain split is a `zoo.data.Dataset` whose `images` and `labels` are domain B's (the
dataset's own look: what `zoo train lenet5 --data mnist-m` trains a classifier on) and whose
`sources` are domain A's images, one per B image: `sources[i]` is what `images[i]` was made from
(paired by construction). The unpaired view the task makes from it shuffles B apart from A.

A dataset class declares its domains (`domains`: the names of A and B, e.g. ('mnist', 'mnist-m');
a domain named after a registered dataset is scored with that dataset's classifier), A's shape
(`source_chans`, `source_size`) and the views it offers (`pairings`). Built offline from another
registered dataset (`derived_from`): `build` writes one safetensors file per split and, last,
`recipe.json` holding the recipe and every file's sha256; a split is read only when the recipe is
this code's and its file's checksum is the one recorded. Importing a dataset class imports no torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from zoo.data import DataError, Dataset, ImageSet

if TYPE_CHECKING:
    import torch

RECIPE = "recipe.json"


@dataclass(repr=False)
class PairedDataset(Dataset):
    """A split of a two-domain dataset: B's `images` and `labels`, A's `sources` (one per image)."""

    sources: torch.Tensor = field(default=None, repr=False)  # N x C_a x H_a x W_a uint8
    per_example = ("sources",)  # sliced with the images when a 'val' split is held out


class TwoDomainSet(ImageSet):
    """Base of the family's datasets: built from `derived_from` by `make_sources` / `make_targets`."""

    domains: ClassVar[tuple[str, str]] = ("a", "b")
    source_chans: ClassVar[int] = 1
    source_size: ClassVar[int] = 28
    pairings: ClassVar[tuple[str, ...]] = ("paired", "unpaired")
    recipe_augmentation = False  # a flip or crop of one domain breaks its pairing with the other
    files = {"train": (RECIPE, "train.safetensors"), "test": (RECIPE, "test.safetensors")}

    def recipe(self) -> dict[str, Any]:
        """What a build depends on; files built by another recipe are rebuilt."""
        raise NotImplementedError

    def make_pairs(self, split: str, source: Dataset, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
        """(A images, B images) of one split, both uint8, from the source dataset's split."""
        raise NotImplementedError

    # ------------------------------------------------------------------ build and read

    def up_to_date(self, root: Path | None = None) -> bool:
        try:
            saved = json.loads((self.path(root) / RECIPE).read_text())
        except (OSError, ValueError):
            return False
        return saved.get("recipe") == self.recipe()

    def build(self, root: Path, sources: dict[str, Dataset]) -> None:
        from safetensors.torch import save_file

        directory = self.path(root)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / RECIPE).unlink(missing_ok=True)  # written last: a build that stops half-way leaves none
        sums = {}
        for split, ds in sources.items():
            a, b = self.make_pairs(split, ds, root)
            name = f"{split}.safetensors"
            tmp = directory / f".{name}.tmp-{os.getpid()}"
            save_file({"sources": a.contiguous(), "images": b.contiguous(), "labels": ds.labels.contiguous()}, str(tmp))
            os.replace(tmp, directory / name)
            sums[name] = sha256(directory / name)
        tmp = directory / f".{RECIPE}.tmp-{os.getpid()}"
        tmp.write_text(json.dumps({"recipe": self.recipe(), "sha256": sums}, indent=1))
        os.replace(tmp, directory / RECIPE)

    def read(self, root: Path, split: str) -> PairedDataset:
        from safetensors.torch import load_file

        directory = self.path(root)
        name = f"{split}.safetensors"
        try:
            recorded = json.loads((directory / RECIPE).read_text())["sha256"][name]
        except (OSError, ValueError, KeyError) as err:
            raise self.corrupt(root, split, err) from None
        if sha256(directory / name) != recorded:
            raise DataError(f"{self.name} ({split}): {directory / name} does not match the checksum in {RECIPE}; "
                            f"delete {directory} and run `{self.fetch_command(root)}` to rebuild it")
        tensors = load_file(str(directory / name))
        return PairedDataset(self.name, split, tensors["images"], tensors["labels"], self.class_names(),
                             tuple(self.mean), tuple(self.std), root, sources=tensors["sources"])

    def check(self, ds: Dataset, root: Path) -> None:
        super().check(ds, root)
        sources = getattr(ds, "sources", None)
        expected = (self.source_chans, self.source_size, self.source_size)
        if sources is None or tuple(sources.shape[1:]) != expected or len(sources) != len(ds.images):
            raise DataError(f"{self.name} in {self.path(root)} is corrupt: its domain-A images are not "
                            f"{len(ds.images)} x {expected}")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
