"""`zoo translate`: image files through an image-to-image model, translations written as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console


@app.command("translate")
def translate_cmd(
    args: Annotated[list[str], typer.Argument(help="[MODEL.TAG] IMAGE...: a pretrained tag (cyclegan.mnist-m) unless --weights is given, then image files.", metavar="[MODEL] IMAGES...")],
    out: Annotated[Path, typer.Option("--out", help="PNG file for one input; for several, a directory (each input's name, .png).")],
    direction: Annotated[str, typer.Option("--direction", help="ab: domain A -> B; ba: B -> A (cycle models).")] = "ab",
    weights: Annotated[Optional[str], typer.Option("--weights", help="Bundle or run directory, zoo .safetensors file, tag or hf:// URL.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (cuda if available), cpu, cuda, cuda:N.")] = "auto",
) -> None:
    """Translate image files with an image-to-image model (`zoo translate cyclegan.mnist-m digit.png --out m.png`).

    Each file is read in the source domain's channels and fitted to its size as `zoo predict` fits
    images (padded by at most 4 px a side, else resized); the translation is written in [0, 1] as PNG."""
    from zoo.cli.predict import _model_and_images, read_images
    from zoo.data import prepare_batch
    from zoo.engine.inference import load_trained
    from zoo.errors import ZooError

    name, images = _model_and_images(args, weights, None)
    loaded = load_trained(weights, name, None, device)
    model = loaded.model.eval()
    if not callable(getattr(model, "translate", None)):
        raise ZooError(f"zoo translate needs an image-to-image model; {model.zoo_name} is not one")
    if direction not in getattr(model, "directions", ("ab",)):
        raise ZooError(f"--direction {direction}: {model.zoo_name} translates {' and '.join(model.directions)}")
    chans, height, width = model.zoo_config.domain_shape(direction[0])
    targets = _targets(images, out)
    param = next(model.parameters())
    for path, image, target in zip(images, read_images(images, chans), targets):
        x = prepare_batch(image.unsqueeze(0), (height, width), chans).to(param.device)
        _save(model.translate(x, direction=direction).cpu(), target)
        console.print(f"{path} -> {target}", markup=False, highlight=False)


def _targets(images: list[Path], out: Path) -> list[Path]:
    """Where each translation goes: `out` itself for one input named *.png, else out/<input stem>.png."""
    if len(images) == 1 and out.suffix.lower() == ".png":
        return [out]
    stems = [p.stem for p in images]
    if len(set(stems)) < len(stems):
        from zoo.errors import ZooError

        raise ZooError(f"two inputs share a name ({sorted({s for s in stems if stems.count(s) > 1})[0]}); "
                       "their translations would overwrite each other in --out")
    return [out / f"{stem}.png" for stem in stems]


def _save(image, target: Path) -> None:
    from torchvision.utils import save_image

    target.parent.mkdir(parents=True, exist_ok=True)
    save_image(image, target)
