"""Semantic inpainting by searching a GAN's latent space (`zoo inpaint`, the server's `/inpaint`).

R. A. Yeh, C. Chen, T. Y. Lim, A. G. Schwing, M. Hasegawa-Johnson, M. N. Do. "Semantic Image
Inpainting with Deep Generative Models." CVPR 2017 (arXiv:1607.07539).

Given an image y and a mask M (1 where a pixel is known), find the z whose G(z) best agrees with y
where y is known and that D finds real, then fill the hole from G(z):

- contextual loss (eq. 3): || W ⊙ (G(z) - y) ||_1, where a known pixel's weight W is the share of
  unknown pixels in its `window` x `window` neighbourhood (eq. 2): the pixels next to the hole
  say most about what belongs in it, the far ones almost nothing;
- prior loss (eq. 4): lambda times D's verdict on G(z). The paper writes log(1 - D(G(z))), the
  original GAN's generator loss; here it is the generator loss of the model's own objective
  (`Objective.g_loss`), which is that loss for a log-loss GAN and -D(G(z)) for a Wasserstein critic;
- Adam on z (the paper's optimiser), from `restarts` draws per image, keeping the draw with the
  lowest final loss (a conditional model whose label is unknown also tries every class);
- blending (section 3.3): Poisson blending keeps G(z)'s gradients in the hole and y's values on
  its border, so the fill meets the known pixels without a seam; `blend="paste"` copies G(z).

Everything happens in the GAN's value range [-1, 1] at its own resolution; `inpaint_images`
converts uint8 images of any size (and back), keeping every known pixel exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from zoo.errors import ZooError
from zoo.tasks.options import TaskOptions

__all__ = ["InpaintOptions", "Inpainted", "check_inpaintable", "inpaint", "inpaint_images"]


class InpaintOptions(TaskOptions):
    """What `zoo inpaint` and the server's `/inpaint` take (the same fields, the same checks)."""

    steps: int = Field(200, ge=1, le=5000, description="Adam steps on z.")
    lr: float = Field(0.1, gt=0, le=10, description="Adam's learning rate on z.")
    prior_weight: float = Field(0.003, ge=0, le=100, description="lambda: weight of D's prior loss beside the "
                                                                  "contextual loss (Yeh et al. use 0.003).")
    window: int = Field(7, ge=1, le=63, description="Side of the neighbourhood that weights the known pixels (odd).")
    restarts: int = Field(2, ge=1, le=64, description="Draws of z per image; the one with the lowest loss is kept.")
    seed: int = Field(0, description="Seed of the starting draws; the same seed gives the same result.")
    label: int | None = Field(None, ge=0, description="Conditional models (cgan): the image's class, if known; "
                                                      "unknown: every class is tried.")
    blend: Literal["poisson", "paste"] = Field("poisson", description="How the generated pixels enter the hole.")


@dataclass
class Inpainted:
    """N x C x H x W in [0, 1]: the corrected images, and G(z) of the chosen z's (what filled the hole)."""

    images: Any
    generated: Any
    loss: Any  # N: the chosen z's final loss


def check_inpaintable(model: Any) -> None:
    """Refuse, in one line, a model without a discriminator or with a condition other than a label."""
    name = getattr(model, "zoo_name", type(model).__name__)
    if not all(hasattr(model, a) for a in ("generator", "discriminator", "render", "noise", "objective")):
        raise ZooError(f"inpainting searches a GAN's latent space with its discriminator; {name} is not such a GAN")
    if getattr(model, "condition_type", None) not in (None, "label"):
        raise ZooError(f"inpainting takes unconditional or label-conditioned GANs; {name} is conditioned on "
                       f"{model.condition_type}")


def inpaint(model: Any, images: Any, known: Any, options: InpaintOptions, seeds: list[int] | None = None) -> Inpainted:
    """Fill the holes of `images` (N x C x H x W in [0, 1], the GAN's size) where `known` (N x 1 x H x W, 1 = known)
    is 0. `seeds`: one per image (default: `options.seed` for all), so an image's result does not depend on the
    others it is batched with."""
    import torch
    import torch.nn.functional as F

    check_inpaintable(model)
    n = len(images)
    seeds = seeds if seeds is not None else [options.seed] * n
    device = next(model.parameters()).device
    y = images.to(device) * 2 - 1
    m = known.to(device).float()
    weight = m * F.avg_pool2d(1 - m, options.window, 1, options.window // 2, count_include_pad=True)  # eq. 2
    labels = _label_grid(model, n, options)  # n x L (L = 1, or every class when the label is unknown)
    per = options.restarts * labels.shape[1]
    z0 = torch.cat([model.noise(per, torch.Generator().manual_seed(s)).cpu() for s in seeds]).to(device)
    z = z0.clone().requires_grad_(True)
    flat_labels = labels.repeat_interleave(options.restarts, 1).reshape(-1).to(device) if model.num_classes else None
    rep = lambda t: t.repeat_interleave(per, 0)  # noqa: E731 - each image once per draw
    y_r, w_r = rep(y), rep(weight)
    objective = model.objective()
    adam = torch.optim.Adam([z], lr=options.lr)
    was_training = model.training
    model.eval()
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        for _ in range(options.steps):
            adam.zero_grad(set_to_none=True)
            loss = _losses(model, objective, z, flat_labels, y_r, w_r, options.prior_weight).sum()
            loss.backward()
            adam.step()
        with torch.no_grad():
            final = _losses(model, objective, z, flat_labels, y_r, w_r, options.prior_weight, each=True).view(n, per)
            best = final.argmin(1)
            pick = torch.arange(n, device=device) * per + best
            generated = (model.render(z[pick].detach(), None if flat_labels is None else flat_labels[pick]))
    finally:
        for p in frozen:
            p.requires_grad_(True)
        model.train(was_training)
    filled = poisson_blend(generated, images.to(device), m) if options.blend == "poisson" else generated
    out = m * images.to(device) + (1 - m) * filled
    return Inpainted(images=out.clamp(0, 1).cpu(), generated=generated.cpu(), loss=final.gather(1, best[:, None])[:, 0].cpu())


def _label_grid(model: Any, n: int, options: InpaintOptions) -> Any:
    """n x L labels to try per image: the given label, every class when it is unknown, none (n x 1 zeros) when
    the model is unconditional (where a label is refused)."""
    import torch

    classes = model.num_classes
    if not classes:
        if options.label is not None:
            raise ZooError(f"{model.zoo_name.split(':')[-1]} is unconditional: label does not apply")
        return torch.zeros(n, 1, dtype=torch.long)
    if options.label is not None:
        if options.label >= classes:
            raise ZooError(f"label {options.label} is outside the classes 0..{classes - 1}")
        return torch.full((n, 1), options.label, dtype=torch.long)
    return torch.arange(classes).expand(n, classes)


def _losses(model: Any, objective: Any, z: Any, labels: Any, y: Any, weight: Any, prior_weight: float,
            each: bool = False) -> Any:
    """Contextual + lambda * prior loss of every draw (N*R), G(z) in [-1, 1]. The objective's generator loss
    averages over the draws it is given: times their number it is their sum, whose gradient for each z is
    that z's own; `each` asks for every draw's own prior (one call per draw, for choosing among them)."""
    import torch

    g = model.render(z, labels) * 2 - 1
    contextual = (weight * (g - y)).abs().flatten(1).sum(1)
    logits = model(g, labels)
    if each:
        prior = torch.stack([objective.g_loss(logits[i:i + 1]) for i in range(len(logits))])
    else:
        prior = objective.g_loss(logits)  # the mean, on every draw: summed, it is the sum of theirs
    return contextual + prior_weight * prior


def poisson_blend(source: Any, target: Any, known: Any, iterations: int = 400) -> Any:
    """`source`'s gradients inside the hole (known == 0), `target`'s values around it (Pérez et al. 2003), by Jacobi
    iteration on the discrete Poisson equation; image borders are mirrored (no flux out)."""
    import torch
    import torch.nn.functional as F

    def neighbours(x: Any) -> Any:
        p = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]

    hole = 1 - known
    guidance = 4 * source - neighbours(source)  # -laplacian of the source
    x = known * target + hole * source
    with torch.no_grad():
        for _ in range(iterations):
            x = known * target + hole * (neighbours(x) + guidance) / 4
    return x.clamp(0, 1)


def inpaint_images(loaded: Any, images: list[Any], holes: list[Any], options: InpaintOptions,
                   seeds: list[int] | None = None) -> list[Any]:
    """uint8 images (C x H x W each, any size) and their holes (H x W bool, True = missing) -> corrected uint8 images of
    the same size: the known pixels as they were, the hole from the GAN (at its resolution, mapped back)."""
    import torch

    from zoo.data.transforms import PAD_LIMIT, fit_size

    task, model = loaded.task, loaded.model
    check_inpaintable(model)
    size, chans, fit = task.image_size, task.in_chans, task.data_config.fit
    xs, ms = [], []
    for image, hole in zip(images, holes):
        if tuple(hole.shape) != tuple(image.shape[-2:]):
            raise ZooError(f"the mask is {hole.shape[1]}x{hole.shape[0]} pixels, the image "
                           f"{image.shape[-1]}x{image.shape[-2]}: they must match")
        xs.append((task.prepare(image.unsqueeze(0)) + 1) / 2)
        m = fit_size(hole[None, None].float(), (size, size), fit)  # a padded border is known (zeros: no hole)
        ms.append((m < 0.5).float().to(xs[-1].device))
    result = inpaint(model, torch.cat(xs), torch.cat(ms), options, seeds)
    out = []
    for image, hole, fixed in zip(images, holes, result.images):
        h, w = image.shape[-2:]
        grow_h, grow_w = size - h, size - w
        padded = fit == "pad" or (fit == "auto" and 0 <= grow_h <= 2 * PAD_LIMIT and 0 <= grow_w <= 2 * PAD_LIMIT)
        if padded:
            back = fixed[:, grow_h // 2:grow_h // 2 + h, grow_w // 2:grow_w // 2 + w]
        else:
            back = fit_size(fixed[None], (h, w), "resize")[0]
        back = _channels(back, image.shape[0])
        filled = back.mul(255).round().clamp(0, 255).to(torch.uint8)
        out.append(torch.where(hole[None].expand_as(image), filled, image))
    return out


def _channels(x: Any, chans: int) -> Any:
    if x.shape[0] == chans:
        return x
    return x.expand(chans, -1, -1) if x.shape[0] == 1 else x.mean(0, keepdim=True)
