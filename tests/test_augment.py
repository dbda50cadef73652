"""Augmentation: flip-crop on whole batches is torchvision's pad-4 random crop and flip, seeded so a killed run
resumes bit-identical; timm's imagenet pipeline and its evaluation transform on the streaming path; mixup and
cutmix for classifiers; each classic family's recipe names its paper's augmentation, MNIST keeps none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision.transforms.functional as TF
from safetensors.torch import load_file

from cli_runner import run_zoo
from image_folders import make_folder
from zoo.data import DataConfig
from zoo.data.augment import batch_generator, flip_crop, flip_crop_params
from zoo.data.streaming import open_stream
from zoo.engine.config import compose


def test_flip_crop_is_torchvisions_padded_random_crop_and_flip_for_the_drawn_offsets():
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    params = flip_crop_params(64, batch_generator(0, 0, 0))
    out = flip_crop(images, params)
    for image, (top, left, mirrored), got in zip(images, params.tolist(), out):
        expected = TF.crop(TF.pad(image, 4), top, left, 32, 32)  # RandomCrop(32, padding=4) at (top, left)
        assert torch.equal(got, TF.hflip(expected) if mirrored else expected)
    assert out.dtype == torch.uint8 and out.shape == images.shape


def test_flip_crop_draws_every_offset_and_mirrors_about_half():
    params = flip_crop_params(20_000, batch_generator(1, 2, 3))
    assert set(params[:, 0].tolist()) == set(params[:, 1].tolist()) == set(range(9))
    assert 0.48 < params[:, 2].float().mean().item() < 0.52
    again = flip_crop_params(20_000, batch_generator(1, 2, 3))
    assert torch.equal(params, again) and not torch.equal(params, flip_crop_params(20_000, batch_generator(1, 2, 4)))


KILLER = """
import os, signal, sys
from zoo.engine import trainer
stop_at = int(os.environ["STOP_AT"])
checkpoint = trainer.Trainer._checkpoint
def checkpoint_then_die(self):
    checkpoint(self)
    if self.progress.step == stop_at:
        os.kill(os.getpid(), signal.SIGKILL)
trainer.Trainer._checkpoint = checkpoint_then_die
from zoo.cli import main
main(sys.argv[1:])
"""


def test_a_flip_crop_run_killed_mid_epoch_resumes_bit_identical(mnist_home, tmp_path):
    env = {**os.environ, "ZOO_HOME": str(mnist_home)}
    # dropout draws from the checkpointed global RNG, the crops from (seed, epoch, batch): both replay
    args = ["train", "lenet5", "--epochs", "2", "--batch-size", "64", "--quiet", "--set", "threads=1",
            "--set", "max_train_examples=768", "--set", "max_eval_examples=200", "--set", "data.augment=flip-crop",
            "--set", "model.dropout=0.3", "--set", "checkpoint_every=4", "--set", "log_every=1"]
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    r = subprocess.run([sys.executable, "-m", "zoo", *args, "--out", str(reference)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-c", KILLER, *args, "--out", str(killed)], env={**env, "STOP_AT": "16"},
                       capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL, r.stderr  # in epoch 2 (12 steps an epoch), after its 4th step
    r = subprocess.run([sys.executable, "-m", "zoo", "train", "--resume", str(killed), "--quiet"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    a, b = load_file(reference / "bundle/model.safetensors"), load_file(killed / "bundle/model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = [(run / "metrics.jsonl").read_text().splitlines() for run in (reference, killed)]
    strip = [[{k: v for k, v in json.loads(x).items() if k not in ("time", "images_per_s")} for x in r] for r in rows]
    assert strip[0] == strip[1]


def test_flip_crop_changes_what_the_model_sees_and_none_does_not(mnist_home, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    small = ["--epochs", "1", "--batch-size", "64", "--quiet", "--set", "threads=1", "--set", "max_train_examples=256",
             "--set", "max_eval_examples=100"]
    runs = {}
    for augment in ("none", "flip-crop"):
        runs[augment] = tmp_path / augment
        r = run_zoo(capsys, "train", "lenet5", "--out", str(runs[augment]), *small, "--set", f"data.augment={augment}")
        assert r.code == 0, r.err
    plain = tmp_path / "plain"
    assert run_zoo(capsys, "train", "lenet5", "--out", str(plain), *small).code == 0
    w = {k: load_file(p / "bundle/model.safetensors") for k, p in {**runs, "plain": plain}.items()}
    assert all(torch.equal(w["none"][k], w["plain"][k]) for k in w["plain"])  # none is the default, exactly
    assert not all(torch.equal(w["flip-crop"][k], w["plain"][k]) for k in w["plain"])


@pytest.mark.parametrize("model, data, expected, note", [
    ("nin", "cifar10", "flip-crop", "nin recipe: data.augment=flip-crop; set data.augment=none to train without"),
    ("vgg11", "cifar10", "flip-crop", "vgg11 recipe: data.augment=flip-crop (the CIFAR-10 form of its crops and flips "
                                      "at 32 px); set data.augment=none to train without"),
    ("alexnet", "cifar10", "flip-crop", None),
    ("googlenet", "cifar10", "flip-crop", None),
    ("nin", "mnist", "none", None),  # digits are not mirror-symmetric: MNIST recipes keep none
    ("vgg11", "fashion-mnist", "none", None),
    ("lenet5", "cifar10", "none", None),  # LeNet-5's paper trains without
])
def test_each_classic_recipe_names_its_papers_augmentation_where_it_applies(model, data, expected, note):
    notes: list[str] = []
    config = compose(model, data_name=data, notes=notes)
    assert config.data.augment == expected
    if note:
        assert note in notes


def test_the_imagenet_recipe_stays_imagenet_on_large_images_and_a_users_choice_wins(tmp_path):
    folder = make_folder(tmp_path / "photos", "RGB", per_class=(4, 2), size=160)
    notes: list[str] = []
    assert compose("vgg11", data_name=str(folder), notes=notes).data.augment == "imagenet"
    assert "vgg11 recipe: data.augment=imagenet; set data.augment=none to train without" in notes
    assert compose("vgg11", data_name="cifar10", sets=["data.augment=none"]).data.augment == "none"
    saved = compose("nin", data_name="cifar10").model_dump(mode="json")
    saved["data"]["augment"] = "none"  # a run directory's config.yaml: what it says is kept on resume
    assert compose("nin", saved).data.augment == "none"
    assert compose("vgg11", data_name=str(folder), sets=["data.stream=false"]).data.augment == "flip-crop"


def test_the_imagenet_pipeline_gives_model_sized_uint8_and_evaluates_with_timms_centre_crop(tmp_path):
    from PIL import Image
    from timm.data import create_transform

    folder = make_folder(tmp_path / "photos", "RGB", per_class=(6, 2), size=48)
    split = open_stream(DataConfig(name=str(folder), augment="imagenet"), "train", 32, 32)
    train, evaluation = split.dataset(train=True), split.dataset(train=False)
    first, again, other = train[(3, 11)]["images"], train[(3, 11)]["images"], train[(3, 12)]["images"]
    assert first.dtype == torch.uint8 and first.shape == (3, 32, 32)
    assert torch.equal(first, again) and not torch.equal(first, other)  # the seed decides, nothing else
    with Image.open(split.items.paths[3]) as im:
        expected = create_transform(32, is_training=False, normalize=False)(im.convert("RGB"))
    assert torch.equal(evaluation[3]["images"], expected)  # resize to 32 / 0.875, centre crop 32


def test_auto_augment_is_an_imagenet_option_and_timm_checks_its_policy(tmp_path, capsys):
    folder = make_folder(tmp_path / "photos", "RGB", per_class=(8, 2), size=32)
    r = run_zoo(capsys, "train", "lenet5", "--data", str(folder), "--set", "data.auto_augment=rand-m9-mstd0.5",
                "--quiet", "--out", str(tmp_path / "a"))
    assert r.code == 2 and "auto_augment=rand-m9-mstd0.5 is an option of augment=imagenet, not augment=none" in r.err
    r = run_zoo(capsys, "train", "lenet5", "--data", str(folder), "--set", "data.augment=imagenet",
                "--set", "data.auto_augment=nonsense", "--quiet", "--out", str(tmp_path / "b"))
    assert r.code == 2 and r.err.strip().splitlines()[-1].startswith("error: data.auto_augment=nonsense: timm refuses it")
    r = run_zoo(capsys, "train", "lenet5", "--data", str(folder), "--set", "data.augment=imagenet",
                "--set", "data.auto_augment=rand-m9-mstd0.5", "--set", "data.workers=0", "--epochs", "1", "--quiet",
                "--set", "threads=1", "--out", str(tmp_path / "c"))
    assert r.code == 0, r.err


def test_mixup_and_cutmix_train_a_classifier_and_are_refused_elsewhere_or_on_odd_batches(mnist_home, tmp_path, capsys,
                                                                                        monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    small = ["--epochs", "1", "--quiet", "--set", "threads=1", "--set", "max_train_examples=256",
             "--set", "max_eval_examples=100"]
    mixed = ["--set", "data.mixup=0.8", "--set", "data.cutmix=1.0", "--set", "label_smoothing=0.1"]
    for name, extra in (("a", mixed), ("a2", mixed), ("plain", [])):
        r = run_zoo(capsys, "train", "lenet5", "--batch-size", "64", "--out", str(tmp_path / name), *small, *extra)
        assert r.code == 0, r.err
    w = {name: load_file(tmp_path / name / "bundle/model.safetensors") for name in ("a", "a2", "plain")}
    assert all(torch.equal(w["a"][k], w["a2"][k]) for k in w["a"])  # seeded: the same mixes every time
    assert not all(torch.equal(w["a"][k], w["plain"][k]) for k in w["a"])
    r = run_zoo(capsys, "train", "lenet5", "--batch-size", "63", "--out", str(tmp_path / "b"), *small,
                "--set", "data.mixup=0.2")
    assert r.code == 2 and "the batch per process (63) must be even" in r.err
    r = run_zoo(capsys, "train", "ae", "--out", str(tmp_path / "c"), *small, "--set", "data.mixup=0.2")
    assert r.code == 2 and "only classifiers train on them, not AutoencodingTask" in r.err
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_auto_augment_policies_run_on_grey_and_rgb_images(mode, tmp_path):
    folder = make_folder(tmp_path / "photos", mode, per_class=(10, 2), size=32)
    for policy in ("rand-m9-mstd0.5", "original", "augmix-m5"):
        train = open_stream(DataConfig(name=str(folder), augment="imagenet", auto_augment=policy), "train", 32, 32)
        images = [train.dataset(train=True)[(i, i)]["images"] for i in range(20)]  # each draws its own ops
        assert {tuple(x.shape) for x in images} == {(1 if mode == "L" else 3, 32, 32)}
