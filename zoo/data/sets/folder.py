"""Image folders: any directory in torchvision's ImageFolder layout (root/class/image.png).

Named `folder` with the data config's `root` pointing at the directory, or by the directory's
path itself (`--data ./pets`). Nothing is fetched or cached: the images are decoded from the
folder at load time or, streaming, as they are read (`zoo.data.folder`), with the training
directory's statistics. Classes, channels and typical size come from listing the directories
and reading a few image headers (`known_info`), so `zoo train` fits the model to them first.
Files without an image extension are skipped (their number is said once); a file with one that
does not decode is refused, naming it; so is an empty class directory of the training split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.data.base import DataError, Dataset, DatasetInfo, ImageSet, ProgressFn
from zoo.data.config import DataConfig


class ImageFolder(ImageSet):
    name = "folder"
    summary = "Any image folder in torchvision's ImageFolder layout (root/class/image.png)"
    in_chans = 3
    source = "not fetched: point `root` at your directory"
    aliases = ("imagefolder",)
    claims_paths = True

    def root_for(self, config: DataConfig) -> Path:
        """`root` when the config names this dataset, else the name itself (a path)."""
        if config.name.strip().lower().replace("_", "-") in {self.name, *self.aliases}:
            if config.root is None:
                raise DataError(f"dataset '{self.name}' needs root=<directory of class subfolders>")
            return Path(config.root).expanduser()
        return Path(config.name).expanduser()

    def known_info(self) -> DatasetInfo:
        """Classes and channels from the listing and sampled headers; image_size the typical shorter side."""
        from zoo.data.folder import describe_folder

        root = self.root_for(self.config)
        folder = describe_folder(root)
        side = self.config.image_size or folder.typical_side
        return DatasetInfo(str(root), self.summary, folder.in_chans, side, len(folder.classes), folder.counts,
                           (), (), self.source, tuple(folder.classes))

    def decoded_bytes(self, root: Path, split: str, image_size: int | None = None) -> int:
        from zoo.data.folder import describe_folder, list_files

        folder = describe_folder(root)
        side = image_size or folder.typical_side
        return len(list_files(root, split).paths) * folder.in_chans * side * side

    def fetch(self, root: Path, *, progress: ProgressFn | None = None) -> None:
        raise DataError("image folders are not fetched: pass the directory as the dataset (e.g. --data ./pets)")

    def read(self, root: Path, split: str) -> Dataset:
        from zoo.data.folder import read_image_folder

        image_size = self.config.image_size if self.config is not None else None
        images, labels, classes, mean, std, smallest = read_image_folder(root, split, image_size)
        return Dataset(str(root), split, images, labels, classes, mean, std, root, smallest)

    def stream_items(self, root: Path, split: str, image_size: int, model_side: int) -> tuple[Any, Any, list[str]]:
        import torch

        from zoo.data.folder import folder_items, list_files

        files = list_files(root, split)
        return (folder_items(root, split, image_size, model_side), torch.tensor(files.labels, dtype=torch.int64),
                list(files.classes))
