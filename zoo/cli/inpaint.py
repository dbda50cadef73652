from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command("inpaint", context_settings=_EXTRA, add_help_option=False)
def inpaint_cmd(
    ctx: typer.Context,
    mask: Annotated[Optional[Path], typer.Option("--mask", help="PNG of the image's size: white (> 127) marks the pixels to fill.")] = None,
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("inpainted.png"),
    weights: Annotated[Optional[str], typer.Option("--weights", help="Bundle or run directory, zoo .safetensors file, tag or hf:// URL.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (cuda if available), cpu, cuda, cuda:N.")] = "auto",
    show_help: Annotated[bool, typer.Option("--help", "-h", help="Show this message and the search's options.")] = False,
) -> None:
    """[TAG] IMAGE --mask MASK [OPTIONS]: fill the masked pixels of IMAGE from a GAN (`zoo inpaint dcgan.mnist digit.png
    --mask hole.png --out fixed.png`): Yeh et al. 2017's search of the latent space (a contextual loss on the known
    pixels, D's prior loss, Adam on z), then Poisson blending. GANs with a discriminator: dcgan, cgan (--label if known), wgan_gp."""
    from zoo.cli.options import options_help, parse_options
    from zoo.cli.predict import read_images
    from zoo.cli.sample import split_name
    from zoo.engine.inference import load_trained
    from zoo.errors import ZooError
    from zoo.inpaint import InpaintOptions, check_inpaintable, inpaint_images
    from zoo.serve.images import png
    from zoo.workflow import describe_owner

    if show_help:
        typer.echo(ctx.get_help())
        typer.echo("\n" + options_help(InpaintOptions, "Options of the search:"))
        return
    args = list(ctx.args)
    name, rest = (None, args) if weights is not None else split_name(args)
    image_path, rest = split_name(rest)
    if weights is None and name is None:
        raise ZooError("zoo inpaint needs a GAN's tag (or --weights) and an image: zoo inpaint dcgan.mnist IMAGE --mask MASK")
    if image_path is None:
        raise ZooError("zoo inpaint needs an image: zoo inpaint dcgan.mnist IMAGE --mask MASK")
    if mask is None:
        raise ZooError("zoo inpaint needs --mask: a PNG of the image's size, white where pixels are missing")
    loaded = load_trained(weights, name, None, device)
    check_inpaintable(loaded.model)
    options = parse_options(InpaintOptions, rest, describe_owner(loaded))
    image = read_images([Path(image_path)], loaded.task.in_chans)[0]
    hole = read_images([mask], 1)[0][0] > 127
    if not hole.any():
        raise ZooError(f"{mask}: no pixel is marked missing (white)")
    fixed = inpaint_images(loaded, [image], [hole], options)[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png(fixed))
    console.print(f"wrote {out} ({int(hole.sum())} pixels filled)", markup=False, highlight=False)
