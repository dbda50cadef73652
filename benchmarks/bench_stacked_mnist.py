"""Stacked MNIST (Metz et al. 2016; the MAD-GAN paper's mode-count setting): mode coverage of GANs, in process.

    OMP_NUM_THREADS=1 python benchmarks/bench_stacked_mnist.py dcgan --epochs 3 --seed 0
    OMP_NUM_THREADS=1 python benchmarks/bench_stacked_mnist.py madgan --epochs 3 --seed 0 --set model.identify=false

Each image is three MNIST training digits as its R, G and B channels (60,000 random triples, fixed
by seed 1234), so the data has 1,000 modes (one per digit triple), equally likely. The model is
built at 28 px and 3 channels and trained by the adversarial task's own `train_step` (the step
`zoo train` runs), `--epochs` passes over the 60,000 triples in batches of the recipe's size;
there are no checkpoints, evaluations or DDP, because stacked MNIST is not a dataset kind of the
zoo yet. This is an exploration, not a `zoo train` run.

After each epoch: 10,000 samples (noise seed 0), each channel classed by lenet5.mnist; the modes
covered (triples with at least one sample) and the KL of the triple histogram from uniform. 10,000
real triples score 1,000 modes and KL 0.059. Prints one JSON line per epoch (and appends it to
--json).
"""

from __future__ import annotations

import time

import torch

TRIPLES = 60_000
SAMPLES = 10_000


def stacked_mnist(seed: int = 1234) -> torch.Tensor:
    """TRIPLES x 3 x 28 x 28 uint8: three random MNIST training digits per image, one per channel."""
    from zoo.data import load_dataset

    mnist = load_dataset("mnist", "train")
    picks = torch.randint(len(mnist.images), (TRIPLES, 3), generator=torch.Generator().manual_seed(seed))
    return mnist.images[picks].squeeze(2)


def mode_coverage(images: torch.Tensor, extractor) -> tuple[int, float]:
    """(modes with at least one image, KL of the 1,000-mode histogram from uniform) of N x 3 x H x W images."""
    from zoo.metrics.classifier import kl

    digits = [extractor.embed(images[:, c:c + 1]).probs.argmax(1) for c in range(3)]
    hist = torch.bincount(digits[0] * 100 + digits[1] * 10 + digits[2], minlength=1000).double() / len(images)
    return int((hist > 0).sum()), kl(hist, torch.full_like(hist, 1e-3))


def main() -> None:
    from bench_gans import in_process, in_process_parser, report  # this directory: run as a script

    from zoo.metrics import load_extractor

    parser = in_process_parser(__doc__, "benchmarks/stacked_mnist.jsonl")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config, model, task, modules, stepper = in_process(
        args.model, ["model.in_chans=3", "model.image_size=28", f"train.seed={args.seed}", *args.sets], args.seed)
    images, extractor = stacked_mnist(), load_extractor("lenet5_mnist")
    batch, shuffle, start = config.train.batch_size, torch.Generator().manual_seed(args.seed), time.process_time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(TRIPLES, generator=shuffle)
        for i in range(0, TRIPLES - batch + 1, batch):
            metrics = task.train_step({"images": images[order[i:i + batch]], "labels": torch.zeros(batch, dtype=torch.long)},
                                      modules, stepper)
        model.eval()
        noise = torch.Generator().manual_seed(0)
        with torch.no_grad():
            samples = torch.cat([model.sample(500, generator=noise) for _ in range(SAMPLES // 500)])
        modes, kl = mode_coverage(samples, extractor)
        report(args.json, {"run": " ".join([args.model, f"seed={args.seed}", *args.sets]), "epoch": epoch,
                           "cpu_seconds": round(time.process_time() - start), "modes": modes,
                           "kl_uniform": round(kl, 3)}, metrics)


if __name__ == "__main__":
    main()
