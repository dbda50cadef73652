"""`zoo serve` and `zoo inpaint` on the command line: the API key, the non-loopback warning, refusals in one line
(exit 2), and the latent search's behaviour on real MNIST digits."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
import torch
from PIL import Image

from cli_runner import run_zoo
from serve_server import ROOT, start_server


def _png(image: torch.Tensor, path) -> None:
    Image.fromarray(image[0].numpy()).save(path)


@pytest.fixture(scope="module")
def test_digits(mnist_test_digits):
    images, labels = mnist_test_digits
    return images[:24], labels[:24]


def test_api_key_gates_every_v1_route_and_nothing_else():
    s = start_server("lenet5.mnist", env={"ZOO_API_KEY": "s3cret"})
    try:
        assert httpx.get(s.url + "/healthz").status_code == 200
        assert httpx.get(s.url + "/").status_code == 200
        denied = httpx.get(s.url + "/v1/models")
        assert denied.status_code == 401 and "API key" in denied.json()["error"]
        assert httpx.post(s.url + "/v1/models/lenet5.mnist/predict", json={}, headers={"X-API-Key": "wrong"}).status_code == 401
        assert httpx.get(s.url + "/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(s.url + "/v1/models", headers={"X-API-Key": "s3cret"}).status_code == 200
    finally:
        s.stop()
    assert not any("no authentication" in line for line in s.err)


def test_a_non_loopback_host_without_a_key_warns_that_anyone_can_use_it():
    s = start_server("lenet5.mnist", "--host", "0.0.0.0")
    try:
        assert httpx.get(s.url + "/healthz").status_code == 200
    finally:
        s.stop()
    assert any("0.0.0.0" in line and "no authentication" in line and "--api-key" in line for line in s.err)


def test_serve_answers_healthz_within_3_seconds_of_start():
    s = start_server("lenet5.mnist")
    s.stop()
    assert s.ready - s.started < 3.0 * (2 if os.cpu_count() <= 2 else 1), s.ready - s.started  # shared 2-core runners


def test_serve_refusals_are_one_line_exit_2(capsys):
    none = run_zoo(capsys, "serve")
    assert none.code == 2 and "name a pretrained tag" in none.err and "Traceback" not in none.err
    unknown = run_zoo(capsys, "serve", "nosuchmodel.mnist")
    assert unknown.code == 2 and len(unknown.err.strip().splitlines()) == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run([sys.executable, "-m", "zoo", "serve", "lenet5.mnist", "--port", str(port)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert busy.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    assert len(busy.stderr.strip().splitlines()) == 1


def test_inpaint_cli_writes_the_image_with_known_pixels_kept(capsys, tmp_path, test_digits):
    images, _ = test_digits
    _png(images[0], tmp_path / "digit.png")
    hole = torch.zeros(1, 28, 28, dtype=torch.uint8)
    hole[:, :, :14] = 255  # the left half
    _png(hole, tmp_path / "mask.png")
    r = run_zoo(capsys, "inpaint", "dcgan.mnist", str(tmp_path / "digit.png"), "--mask", str(tmp_path / "mask.png"),
                "--out", str(tmp_path / "fixed.png"), "--steps", "20", "--restarts", "1", "--device", "cpu")
    assert r.code == 0, r.err
    assert "392 pixels filled" in r.out
    fixed = torch.from_numpy(__import__("numpy").asarray(Image.open(tmp_path / "fixed.png")).copy())
    assert fixed.shape == (28, 28) and torch.equal(fixed[:, 14:], images[0, 0, :, 14:])


def test_inpaint_cli_refusals_are_one_line_exit_2(capsys, tmp_path, test_digits):
    _png(test_digits[0][0], tmp_path / "d.png")
    _png(torch.full((1, 28, 28), 255, dtype=torch.uint8), tmp_path / "m.png")
    _png(torch.full((1, 10, 10), 255, dtype=torch.uint8), tmp_path / "small.png")
    cases = [
        (["lenet5.mnist", "d.png", "--mask", "m.png"], "not such a GAN"),
        (["gan_cls.mnist", "d.png", "--mask", "m.png"], "conditioned on prompt"),
        (["dcgan.mnist", "d.png"], "needs --mask"),
        (["dcgan.mnist", "d.png", "--mask", "small.png"], "must match"),
        (["dcgan.mnist", "d.png", "--mask", "m.png", "--truncation", "0.5"], "does not apply"),
        (["dcgan.mnist", "d.png", "--mask", "m.png", "--steps", "0"], "--steps"),
        (["dcgan.mnist", "d.png", "--mask", "m.png", "--label", "3"], "unconditional"),
        (["dcgan.mnist", "missing.png", "--mask", "m.png"], "no such image file"),
    ]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for args, words in cases:
            r = run_zoo(capsys, "inpaint", *args, "--device", "cpu")
            assert r.code == 2 and words in r.err and len(r.err.strip().splitlines()) == 1, (args, r.err)
    finally:
        os.chdir(cwd)


def test_inpainting_the_centre_beats_the_masked_digit_for_the_classifier_and_in_psnr(test_digits):
    from zoo.engine.inference import load_trained
    from zoo.inpaint import InpaintOptions, inpaint_images

    images, labels = test_digits
    hole = torch.zeros(28, 28, dtype=torch.bool)
    hole[8:20, 8:20] = True
    masked = images.clone()
    masked[:, :, hole] = 0
    gan = load_trained(None, "dcgan.mnist", device="cpu")
    classifier = load_trained(None, "lenet5.mnist", device="cpu").task
    fixed = torch.stack(inpaint_images(gan, list(masked), [hole] * len(masked), InpaintOptions(steps=60, restarts=2)))

    def accuracy(x):
        return (classifier.predict(x).argmax(1) == labels).float().mean().item()

    def psnr(x):
        mse = ((x.float() - images.float()) / 255)[:, :, hole].pow(2).flatten(1).mean(1)
        return (10 * torch.log10(1 / mse.clamp_min(1e-10))).mean().item()

    assert torch.equal(fixed[:, :, ~hole], images[:, :, ~hole])
    assert accuracy(fixed) >= accuracy(masked) + 0.1
    assert psnr(fixed) > psnr(masked) + 1.0


def test_inpainting_is_deterministic_per_seed_and_independent_of_its_batch(test_digits):
    from zoo.engine.inference import load_trained
    from zoo.inpaint import InpaintOptions, inpaint_images

    images, _ = test_digits
    hole = torch.zeros(28, 28, dtype=torch.bool)
    hole[:, :14] = True
    gan = load_trained(None, "dcgan.mnist", device="cpu")
    opts = InpaintOptions(steps=10, restarts=1, seed=4)
    alone = inpaint_images(gan, [images[0]], [hole], opts)[0]
    batched = inpaint_images(gan, [images[1], images[0]], [hole, hole], opts, seeds=[9, 4])[1]
    other_seed = inpaint_images(gan, [images[0]], [hole], opts.model_copy(update={"seed": 5}))[0]
    assert (alone.short() - batched.short()).abs().max() <= 1
    assert not torch.equal(alone, other_seed)
