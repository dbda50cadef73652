"""Image folders: any directory in torchvision's ImageFolder layout (root/class/image.png).

Named `folder` with the data config's `root` pointing at the directory, or by the directory's
path itself (`--data ./pets`). Nothing is fetched or cached: the images are decoded from the
folder at load time (`zoo.data.folder`), at the config's `image_size`, with the training
directory's statistics; classes, channels and size come from the files.
"""

from __future__ import annotations

from pathlib import Path

from zoo.data.base import DataError, Dataset, ImageSet, ProgressFn
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

    def fetch(self, root: Path, *, progress: ProgressFn | None = None) -> None:
        raise DataError("image folders are not fetched: pass the directory as the dataset (e.g. --data ./pets)")

    def read(self, root: Path, split: str) -> Dataset:
        from zoo.data.folder import read_image_folder

        image_size = self.config.image_size if self.config is not None else None
        images, labels, classes, mean, std = read_image_folder(root, split, image_size)
        return Dataset(str(root), split, images, labels, classes, mean, std, root)
