"""Image folders (torchvision's ImageFolder layout): listed once, decoded into memory or streamed.

    root/train/<class>/<image>   and   root/test/<class>/<image>  (or root/val/...)
    root/<class>/<image>         (a single 'train' split)

Files are listed and labelled as torchvision's ImageFolder does (class directories sorted, files
sorted under each); every split takes its class list from the training directory, so labels agree
across splits even when a test folder lacks a class. What a folder holds is decided from the
listing and a few image headers, before any pixel is decoded (`describe_folder`, which
`zoo train` uses to fit the model's `num_classes` and `in_chans`):

- its channels: grey (1) when the headers of an evenly spread sample of at most 256 training
  images are all grey, else RGB (3); every image is converted to that mode when decoded;
- files without an image extension (a README, .DS_Store) are skipped, and their number said
  once on stderr; a file with an image extension that does not decode is refused, naming it;
- an empty class directory in the training split is refused (a class with no examples).

In memory (`read_image_folder`), images are decoded with PIL once, at load time, to uint8, at
`image_size` (shorter side resized, then centre-cropped) or their own size when all agree.
Normalisation statistics are those of the training directory (computed once per process), so
every split is normalised alike. Streaming (`FolderItems`) decodes one image per request in a
DataLoader worker, by the same function, so both paths see the same pixels.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo.data.base import DataError

_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
_TEST_DIRS = ("test", "val")
HEADER_SAMPLE = 256  # image headers read to tell grey from RGB and the typical size
# (training directory, image_size) -> its per-channel (mean, std), filled on first load
_TRAIN_STATS: dict[tuple[str, int | None], tuple[tuple[float, ...], tuple[float, ...]]] = {}
_LISTINGS: dict[str, FolderFiles] = {}
_SKIP_SAID: set[str] = set()


def split_dir(root: Path, split: str) -> Path:
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    if split == "train":
        return root / "train" if (root / "train").is_dir() else root
    for name in _TEST_DIRS:
        if (root / name).is_dir():
            return root / name
    raise DataError(f"image folder {root} has no test/ or val/ subdirectory for the test split")


@dataclass(frozen=True)
class FolderFiles:
    """One split's image files, in torchvision's order, with the training directory's classes."""

    directory: Path
    classes: list[str]
    paths: list[str]
    labels: list[int]
    skipped: list[str]  # files without an image extension


@dataclass(frozen=True)
class FolderSummary:
    """What a folder holds, told by its listing and a sample of headers (no pixel decoded)."""

    classes: list[str]
    in_chans: int
    typical_side: int  # median shorter side of the sampled training images
    counts: dict[str, int]  # split -> images


def list_files(root: Path, split: str) -> FolderFiles:
    """The image files of `split` (listed once per process); a DataError for an empty training class."""
    train_dir, directory = split_dir(root, "train"), split_dir(root, split)
    key = str(directory.resolve())
    if key in _LISTINGS:
        return _LISTINGS[key]
    classes = _classes(train_dir)
    extensions = _extensions()
    paths, labels, skipped = [], [], []
    for label, name in enumerate(classes):
        class_dir = directory / name
        if not class_dir.is_dir():
            continue  # a test folder may lack a class
        before = len(paths)
        for where, _, names in sorted(os.walk(class_dir, followlinks=True)):
            for fname in sorted(names):
                path = os.path.join(where, fname)
                if fname.lower().endswith(extensions):
                    paths.append(path)
                    labels.append(label)
                else:
                    skipped.append(path)
        if directory == train_dir and len(paths) == before:
            raise DataError(f"image folder {directory}: class directory '{name}' holds no images")
    if not paths:
        raise DataError(f"image folder {directory} holds no images in class subfolders ({', '.join(classes)})")
    files = FolderFiles(directory, classes, paths, labels, skipped)
    _LISTINGS[key] = files
    _say_skipped(files)
    return files


def _say_skipped(files: FolderFiles) -> None:
    if not files.skipped or str(files.directory) in _SKIP_SAID or os.environ.get("RANK", "0") != "0":
        return
    _SKIP_SAID.add(str(files.directory))
    names = ", ".join(Path(p).name for p in files.skipped[:3]) + (", ..." if len(files.skipped) > 3 else "")
    print(f"image folder {files.directory}: skipped {len(files.skipped)} file(s) that are not images ({names})",
          file=sys.stderr)


def describe_folder(root: Path) -> FolderSummary:
    """Classes, channels, typical size and image counts of the folder `root`, from listings and headers."""
    train = list_files(root, "train")
    counts = {"train": len(train.paths)}
    try:
        counts["test"] = len(list_files(root, "test").paths)
    except DataError:
        pass  # a folder with only a training split
    headers = _headers(_spread(train.paths, HEADER_SAMPLE))
    sides = sorted(min(size) for _, size in headers)
    return FolderSummary(train.classes, folder_channels(train), sides[len(sides) // 2], counts)


def folder_channels(train: FolderFiles) -> int:
    """1 when the sampled training headers are all grey, else 3 (the decision every path shares)."""
    modes = {mode for mode, _ in _headers(_spread(train.paths, HEADER_SAMPLE))}
    return 1 if modes <= _GREY_MODES else 3


def _spread(paths: list[str], k: int) -> list[str]:
    """At most k of `paths`, evenly spaced (deterministic, and every class represented in a sorted listing)."""
    if len(paths) <= k:
        return list(paths)
    return [paths[i * len(paths) // k] for i in range(k)]


def _headers(paths: list[str]) -> list[tuple[str, tuple[int, int]]]:
    """(mode, (width, height)) of each file, from its header only: PIL decodes pixels lazily."""
    from PIL import Image, UnidentifiedImageError

    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                out.append((im.mode, im.size))
        except UnidentifiedImageError:
            raise DataError(f"cannot read image {p}: not an image PIL can decode") from None
        except OSError as err:
            raise DataError(f"cannot read image {p}: {err}") from None
    return out


def read_image_folder(root: Path, split: str, image_size: int | None):
    """Split `split` of the image folder `root` in memory: (N x C x S x S uint8 images, int64 labels, classes,
    mean, std, smallest), the statistics being the training directory's and `smallest` the
    (path, width, height) of the image with the shortest side."""
    files = list_files(root, split)
    train_files = list_files(root, "train")
    mode = "L" if folder_channels(train_files) == 1 else "RGB"
    headers = _headers(files.paths)
    sizes = {size for _, size in headers}
    if image_size is None and len(sizes) > 1:
        a, b = sorted(sizes)[:2]
        raise DataError(f"images differ in size ({a[0]}x{a[1]}, {b[0]}x{b[1]}, ...); set the data image_size")
    smallest_at = min(range(len(headers)), key=lambda i: min(headers[i][1]))
    smallest = (files.paths[smallest_at], *headers[smallest_at][1])
    images = _decode_into(files.paths, mode, image_size)
    labels = torch.tensor(files.labels, dtype=torch.int64)
    key = (str(train_files.directory.resolve()), image_size)
    if files.directory == train_files.directory:
        _TRAIN_STATS[key] = channel_stats(images)
    elif key not in _TRAIN_STATS:
        _TRAIN_STATS[key] = channel_stats(read_image_folder(root, "train", image_size)[0])
    mean, std = _TRAIN_STATS[key]
    return images, labels, list(train_files.classes), mean, std, smallest


def _decode_into(paths: list[str], mode: str, image_size: int | None) -> torch.Tensor:
    """Every file decoded into one preallocated N x C x S x S tensor (not a list then a stack: half the peak)."""
    first = decode(paths[0], mode, image_size)
    images = torch.empty((len(paths), *first.shape), dtype=torch.uint8)
    images[0] = first
    for i, path in enumerate(paths[1:], start=1):
        images[i] = decode(path, mode, image_size)
    return images


def _extensions() -> tuple[str, ...]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return IMG_EXTENSIONS


def _classes(train_dir: Path) -> list[str]:
    from torchvision.datasets.folder import find_classes

    try:
        return find_classes(str(train_dir))[0]
    except FileNotFoundError:
        raise DataError(f"image folder {train_dir} has no class subfolders (expected {train_dir}/<class>/<image>)") from None


def open_image(path: str, mode: str):
    """The file as a PIL image in `mode` ('L' or 'RGB'); a DataError naming the file when it does not decode."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert(mode)
    except OSError as err:
        raise DataError(f"cannot decode image {path}: {err}") from None


def decode(path: str, mode: str, image_size: int | None) -> torch.Tensor:
    """One file -> C x S x S uint8: converted to `mode`, shorter side resized to `image_size`, centre-cropped."""
    from torchvision.transforms.functional import pil_to_tensor

    return fit_tensor(pil_to_tensor(open_image(path, mode)), image_size)


def fit_tensor(t: torch.Tensor, image_size: int | None) -> torch.Tensor:
    from torchvision.transforms.functional import center_crop, resize

    if image_size is not None:
        t = center_crop(resize(t, image_size, antialias=True), [image_size, image_size])
    return t


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of N x C x H x W uint8 images on the [0, 1] scale (float64 sums, in chunks of
    about 4M values, 32 MB, whatever the image size)."""
    c = images.shape[1]
    chunk = _chunk(images)
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


def luma_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std of the luma (ITU-R 601, as `prepare_batch` takes it) of N x 3 x H x W uint8 images."""
    chunk = _chunk(images)
    weights = torch.tensor((0.299, 0.587, 0.114), dtype=torch.float64).view(1, 3, 1, 1)
    total = total_sq = 0.0
    for start in range(0, images.shape[0], chunk):
        y = (images[start:start + chunk].to(torch.float64).div_(255.0) * weights).sum(1)
        total += float(y.sum())
        total_sq += float(y.square().sum())
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    return (mean,), (max(total_sq / count - mean * mean, 0.0) ** 0.5,)


def _chunk(images: torch.Tensor) -> int:
    return max(1, (1 << 22) // max(1, images[0].numel()))


@dataclass(frozen=True)
class FolderItems:
    """A folder split read one image at a time (picklable, for DataLoader workers).

    `load(i)` decodes file i as the in-memory path does (`decode`); `open(i)` gives the PIL image for
    a per-image augmentation pipeline. With `min_side`, an image whose shorter side is smaller is
    refused, naming it (the streaming path cannot check every header before it starts).
    """

    paths: tuple[str, ...]
    mode: str
    image_size: int
    min_side: int = 0
    model_side: int = 0

    def __len__(self) -> int:
        return len(self.paths)

    def open(self, i: int):
        image = open_image(self.paths[i], self.mode)
        if min(image.size) < self.min_side:
            raise DataError(too_small(self.paths[i], *image.size, self.model_side))
        return image

    def load(self, i: int) -> torch.Tensor:
        from torchvision.transforms.functional import pil_to_tensor

        return fit_tensor(pil_to_tensor(self.open(i)), self.image_size)


def too_small(path: str, width: int, height: int, side: int) -> str:
    return (f"image {path} is {width}x{height}, too small for the model's {side}x{side} input (it would be "
            f"enlarged more than 2x); remove it, or set a smaller model.image_size")


def folder_items(root: Path, split: str, image_size: int, model_side: int) -> FolderItems:
    """The streaming reader of one split, refusing images under half the model's side."""
    files = list_files(root, split)
    mode = "L" if folder_channels(list_files(root, "train")) == 1 else "RGB"
    sample = _spread(files.paths, HEADER_SAMPLE)
    for path, (_, (w, h)) in zip(sample, _headers(sample)):
        if 2 * min(w, h) < model_side:
            raise DataError(too_small(path, w, h, model_side))
    return FolderItems(tuple(files.paths), mode, image_size, (model_side + 1) // 2, model_side)
