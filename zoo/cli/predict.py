from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console, print_json


@app.command("predict")
def predict_cmd(
    args: Annotated[list[str], typer.Argument(help="[MODEL.TAG] IMAGE...: a pretrained tag (lenet5.mnist) unless --weights is given, then image files.", metavar="[MODEL] IMAGES...")],
    weights: Annotated[Optional[str], typer.Option("--weights", help="Bundle or run directory, zoo .safetensors file, tag or hf:// URL.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Model name (checked against the weights).")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Labels shown per image.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Classify image files: the top-k labels with their probabilities (`zoo predict lenet5.mnist digit.png`)."""
    from zoo.engine.inference import load_trained

    model, images = _model_and_images(args, weights, model)
    loaded = load_trained(weights, model)
    task = loaded.task
    if not hasattr(task, "predict"):
        from zoo.errors import ZooError

        raise ZooError(f"zoo predict needs a classifier; {loaded.model.zoo_name} is not one")
    batch = read_images(images, input_channels(task))
    names = task.class_names()
    k = min(top_k, len(names))
    results = []
    for path, image in zip(images, batch):
        probs = task.predict(image.unsqueeze(0)).softmax(1)[0]
        results.append({"image": str(path), "top": [{"label": label, "index": i, "probability": p}
                                                    for label, i, p in top_classes(probs, names, k)]})
    if as_json:
        print_json(results)
        return
    for r in results:
        best = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in r["top"])
        console.print(f"{r['image']}: {best}", markup=False, highlight=False)


def top_classes(probs, names: list[str], k: int) -> list[tuple[str, int, float]]:
    """(label, class index, probability) of the k most probable classes of one image's probabilities."""
    top = probs.topk(min(k, len(names)))
    return [(names[i], int(i), float(p)) for p, i in zip(top.values.tolist(), top.indices.tolist())]


def _model_and_images(args: list[str], weights: Optional[str], model: Optional[str]) -> tuple[Optional[str], list[Path]]:
    """Without --weights the first argument names the model (and its tag); with it, a first argument
    that is no file but a model name is the model to check the weights against."""
    from zoo.errors import ZooError, UnknownModelError
    from zoo.names import resolve

    first, rest = args[0], args[1:]
    if weights is None and model is None:
        if not rest:
            raise ZooError("zoo predict needs a model with a pretrained tag and image files: zoo predict lenet5.mnist IMAGE...")
        return first, [Path(a) for a in rest]
    if model is None and rest and not Path(first).exists():
        try:
            resolve(first)
        except UnknownModelError:
            pass
        else:
            return first, [Path(a) for a in rest]
    return model, [Path(a) for a in args]


def input_channels(task) -> int:
    """The channels files are read in: the model's, unless the weights' statistics are per channel of other
    images (a bundle from before statistics followed the model: RGB statistics of a grey model), which
    `prepare_batch` then normalises before matching the model's channels, as the weights were trained."""
    stats = len(task.mean or ())
    return stats if stats in (1, 3) and stats != task.in_chans else task.in_chans


def read_images(paths: list[Path], in_chans: int) -> list:
    """Each file as a 1 x C x H x W uint8 tensor (C = 1 for grey models, 3 otherwise); sizes may differ."""
    from PIL import Image, UnidentifiedImageError

    from zoo.errors import ZooError

    out = []
    for path in paths:
        try:
            with Image.open(path) as img:
                out.append(image_tensor(img, in_chans))
        except FileNotFoundError:
            raise ZooError(f"{path}: no such image file") from None
        except (UnidentifiedImageError, OSError) as err:
            raise ZooError(f"{path}: not an image this zoo can read ({type(err).__name__})") from None
    return out


def image_tensor(img, in_chans: int):
    """An opened PIL image as a C x H x W uint8 tensor (C = 1 for grey models, 3 otherwise); decodes it."""
    import torch

    img = img.convert("L" if in_chans == 1 else "RGB")
    t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    return t.reshape(img.height, img.width, -1).permute(2, 0, 1).contiguous()
