"""Generated image folders (torchvision's ImageFolder layout) for the folder, streaming and augmentation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# two classes a small CNN tells apart in a few steps: reddish and bluish noise
TINTS = {"cat": (200, 60, 60), "dog": (60, 60, 200)}


def make_folder(root: Path, mode: str = "RGB", per_class: tuple[int, int] = (80, 20), size: int = 32,
                seed: int = 0) -> Path:
    """root/{train,test}/{cat,dog}/<i>.png: `per_class` images per class in each split, `size` px, grey ('L')
    or RGB, of tinted noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in zip(("train", "test"), per_class):
        for name, tint in TINTS.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                base = np.array(tint)[None, None, :] * rng.uniform(0.6, 1.0)
                pixels = np.clip(base + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
                image = Image.fromarray(pixels, "RGB")
                (image.convert("L") if mode == "L" else image).save(folder / f"{i}.png")
    return root
