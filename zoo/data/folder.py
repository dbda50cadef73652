"""Image folders (torchvision's ImageFolder layout) decoded once into a uint8 tensor.

    root/train/<class>/<image>   and   root/test/<class>/<image>  (or root/val/...)
    root/<class>/<image>         (a single 'train' split)

Files are found and labelled by torchvision's ImageFolder; every split takes its class list
from the training directory, so labels agree across splits even when a test folder lacks a
class. Images are decoded with PIL once, at load time (the only per-image work), to grey when
every image is grey and RGB otherwise, resized (shorter side) and centre-cropped to
`image_size`, then kept in memory like MNIST. Normalisation statistics are always those of the
training directory (computed once per process), so every split is normalised alike.
"""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.data.base import DataError

_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
_TEST_DIRS = ("test", "val")
# (training directory, image_size) -> its per-channel (mean, std), filled on first load
_TRAIN_STATS: dict[tuple[str, int | None], tuple[tuple[float, ...], tuple[float, ...]]] = {}


def split_dir(root: Path, split: str) -> Path:
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    if split == "train":
        return root / "train" if (root / "train").is_dir() else root
    for name in _TEST_DIRS:
        if (root / name).is_dir():
            return root / name
    raise DataError(f"image folder {root} has no test/ or val/ subdirectory for the test split")


def read_image_folder(root: Path, split: str, image_size: int | None):
    """Split `split` of the image folder `root`: (N x C x S x S uint8 images, int64 labels, classes, mean, std),
    the statistics being the training directory's."""
    from torchvision.datasets import ImageFolder

    train_dir, directory = split_dir(root, "train"), split_dir(root, split)
    classes = _classes(train_dir)
    try:
        samples = ImageFolder.make_dataset(str(directory), {c: i for i, c in enumerate(classes)},
                                           extensions=_extensions(), allow_empty=True)
    except (FileNotFoundError, OSError) as err:
        raise DataError(f"cannot read image folder {directory}: {err}") from None
    if not samples:
        raise DataError(f"image folder {directory} holds no images in class subfolders ({', '.join(classes)})")
    images = _decode_all([p for p, _ in samples], image_size)
    labels = torch.tensor([label for _, label in samples], dtype=torch.int64)
    key = (str(train_dir.resolve()), image_size)
    if directory == train_dir:
        _TRAIN_STATS[key] = channel_stats(images)
    elif key not in _TRAIN_STATS:
        _TRAIN_STATS[key] = channel_stats(read_image_folder(root, "train", image_size)[0])
    mean, std = _TRAIN_STATS[key]
    return images, labels, classes, mean, std


def _extensions() -> tuple[str, ...]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return IMG_EXTENSIONS


def _classes(train_dir: Path) -> list[str]:
    from torchvision.datasets.folder import find_classes

    try:
        return find_classes(str(train_dir))[0]
    except FileNotFoundError:
        raise DataError(f"image folder {train_dir} has no class subfolders (expected {train_dir}/<class>/<image>)") from None


def _decode_all(paths: list[str], image_size: int | None) -> torch.Tensor:
    """N images -> N x C x S x S uint8 (C = 1 if all grey else 3)."""
    from PIL import Image, UnidentifiedImageError

    modes, sizes = set(), set()
    for p in paths:  # headers only: PIL decodes pixels lazily
        try:
            with Image.open(p) as im:
                modes.add(im.mode)
                sizes.add(im.size)
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"cannot read image {p}: {err}") from None
    if image_size is None and len(sizes) > 1:
        a, b = sorted(sizes)[:2]
        raise DataError(f"images differ in size ({a[0]}x{a[1]}, {b[0]}x{b[1]}, ...); set the data image_size")
    mode = "L" if modes <= _GREY_MODES else "RGB"
    return torch.stack([_decode(p, mode, image_size) for p in paths])


def _decode(path: str, mode: str, image_size: int | None) -> torch.Tensor:
    from PIL import Image
    from torchvision.transforms.functional import center_crop, pil_to_tensor, resize

    try:
        with Image.open(path) as im:
            t = pil_to_tensor(im.convert(mode))  # C x H x W uint8
    except OSError as err:
        raise DataError(f"cannot decode image {path}: {err}") from None
    if image_size is not None:
        t = center_crop(resize(t, image_size, antialias=True), [image_size, image_size])
    return t


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of N x C x H x W uint8 images on the [0, 1] scale (float64 sums)."""
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for start in range(0, images.shape[0], chunk):
        x = images[start:start + chunk].to(torch.float64).div_(255.0)
        total += x.sum(dim=(0, 2, 3))
        total_sq += x.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())
