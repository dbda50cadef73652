"""Mixtures of Gaussians: mode coverage of the fully connected GANs on points, in process.

    OMP_NUM_THREADS=1 python benchmarks/bench_mixtures.py gan --mixture line5 --seed 0 --set model.hidden=64
    OMP_NUM_THREADS=1 python benchmarks/bench_mixtures.py madgan --mixture ring8 --seed 0 \
        --set model.arch=mlp --set model.hidden=64

The synthetic settings of the mode-collapse papers, where a mode is a Gaussian and coverage can be
read off exactly:

- `line5`: the MAD-GAN authors' 1-D mixture (github.com/vivkul/MAD-GAN_synthetic,
  datasets/specs1D_diffDist_1.txt and `specs_MoG1D`): five equally likely modes at 10, 20, 60,
  80 and 110 with standard deviations 3, 3, 2, 2 and 1.
- `ring8`: Metz et al. 2016's eight equally likely modes on a circle of radius 2, standard
  deviation 0.02.

Both are scaled into tanh's [-1, 1] (line5: (x - 60) / 70; ring8: x / 2.5). A point is a one-pixel
image with one channel per coordinate (`model.image_size=1`, `model.in_chans` = 1 or 2), so the
models are the zoo's own fully connected GANs (`gan`, `madgan --set model.arch=mlp`) and each step is
the adversarial task's own `train_step` on a fresh batch of the recipe's size drawn from the mixture
(the seed fixes both). This is an exploration, not a `zoo train` run: points are not a dataset kind.

Every `--steps` / 5 steps: 10,000 samples (noise seed 0). A sample belongs to the nearest mode if it
lies within 3 of that mode's standard deviations (the authors' `estimate_mode_idx`), else to none.
Reported: "high quality", the share of samples that belong to a mode; each mode's share of all
samples; "modes", those holding at least half their fair share (10% of line5's samples, 6.25% of
ring8's); and the KL of the modes' histogram (samples that belong to one) from the true, uniform
weights. 10,000 draws from the mixture itself score every mode and KL 0.000, with high quality 0.998
(line5) and 0.989 (ring8: a 2-D Gaussian puts 98.9% of its mass within 3 deviations).
Prints one JSON line per measurement (and appends it to --json).
"""

from __future__ import annotations

import math
import time

import torch

SAMPLES = 10_000


def mixture(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(means M x D, standard deviations M) in tanh's range."""
    if name == "line5":
        means = (torch.tensor([10.0, 20.0, 60.0, 80.0, 110.0]) - 60.0) / 70.0
        return means[:, None], torch.tensor([3.0, 3.0, 2.0, 2.0, 1.0]) / 70.0
    angles = torch.arange(8) * 2 * math.pi / 8
    return torch.stack([angles.cos(), angles.sin()], 1) * 2.0 / 2.5, torch.full((8,), 0.02 / 2.5)


def draw(n: int, means: torch.Tensor, stds: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """n points from the equally weighted mixture, as n x D x 1 x 1 images."""
    mode = torch.randint(len(means), (n,), generator=generator)
    return (means[mode] + torch.randn(n, means.shape[1], generator=generator) * stds[mode, None])[:, :, None, None]


def coverage(points: torch.Tensor, means: torch.Tensor, stds: torch.Tensor) -> dict:
    """High-quality share, per-mode shares (%), modes at half their fair share or more, KL from uniform."""
    from zoo.metrics.classifier import kl

    distance, mode = (torch.cdist(points, means) / stds).min(1)  # in units of each mode's deviation
    good = distance <= 3.0
    counts = torch.bincount(mode[good], minlength=len(means)).double()
    shares = counts / len(points)
    fair = torch.full_like(counts, 1.0 / len(means))
    return {"high_quality": round(good.double().mean().item(), 3),
            "modes": int((shares >= 0.5 * fair).sum()),
            "kl_uniform": round(kl(counts / counts.sum().clamp(min=1), fair), 3) if counts.sum() else None,
            "shares": [round(100 * s) for s in shares.tolist()]}


def main() -> None:
    from bench_gans import in_process, in_process_parser, report  # this directory: run as a script

    parser = in_process_parser(__doc__, "benchmarks/mixtures.jsonl")
    parser.add_argument("--mixture", choices=["line5", "ring8"], default="line5")
    parser.add_argument("--steps", type=int, default=10_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    means, stds = mixture(args.mixture)
    config, model, task, modules, stepper = in_process(
        args.model, [f"model.in_chans={means.shape[1]}", "model.image_size=1", f"train.seed={args.seed}", *args.sets],
        args.seed)
    task.prepare = lambda points: points  # already in [-1, 1]; the task's own prepare reads uint8 images
    batch, data, start = config.train.batch_size, torch.Generator().manual_seed(args.seed), time.process_time()
    labels = torch.zeros(batch, dtype=torch.long)
    for step in range(1, args.steps + 1):
        metrics = task.train_step({"images": draw(batch, means, stds, data), "labels": labels}, modules, stepper)
        if step % max(1, args.steps // 5) and step != args.steps:
            continue
        model.eval()
        with torch.no_grad():
            points = model.sample(SAMPLES, generator=torch.Generator().manual_seed(0)).flatten(1) * 2.0 - 1.0
        model.train()
        report(args.json, {"run": " ".join([args.model, args.mixture, f"seed={args.seed}", *args.sets]), "step": step,
                           "cpu_seconds": round(time.process_time() - start), **coverage(points, means, stds)}, metrics)


if __name__ == "__main__":
    main()
