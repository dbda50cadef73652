"""Image folders fit the model: classes and channels follow the folder, class names reach `zoo predict`
and `zoo eval`, statistics are stored per model input channel, grey and RGB meet any model, bad folders
are one line (exit 2), and a split smaller than the batch trains as one batch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_runner import run_zoo
from image_folders import make_folder
from zoo.data import load_dataset, prepare_batch
from zoo.data.catalog import dataset_for
from zoo.data.config import DataConfig

# val_size=auto (a run's default) said outright: the counts below depend on the 10% held out
QUICK = ["--epochs", "2", "--quiet", "--set", "threads=1", "--set", "data.val_size=auto"]


def bundle_config(run: Path) -> dict:
    return json.loads((run / "bundle/config.json").read_text())


def predict(capsys, run: Path, *images: Path) -> list[dict]:
    r = run_zoo(capsys, "predict", "--weights", str(run), *map(str, images), "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


@pytest.fixture(scope="module")
def rgb(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("rgb") / "pets", "RGB")


@pytest.fixture(scope="module")
def grey(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("grey") / "pets", "L")


def test_lenet5_on_an_rgb_folder_takes_its_two_classes_and_three_channels_and_predict_names_them(rgb, tmp_path, capsys):
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--data", str(rgb), "--out", str(out), *QUICK, "--epochs", "8")
    assert r.code == 0, r.err
    assert f"lenet5 fitted to {rgb}: num_classes 10 -> 2, in_chans 1 -> 3" in r.err
    # 160 training images, 16 held out for val: the recipe's batch of 256 becomes the whole split
    assert ("the training split has 144 examples, fewer than train.batch_size=256: every step trains on 144 of them, "
            "the whole split as one batch") in r.err
    doc = bundle_config(out)
    assert (doc["config"]["num_classes"], doc["config"]["in_chans"]) == (2, 3)
    assert doc["preprocessing"]["class_names"] == ["cat", "dog"]
    assert len(doc["preprocessing"]["mean"]) == len(doc["preprocessing"]["std"]) == 3
    [cat, dog] = predict(capsys, out, rgb / "test/cat/0.png", rgb / "test/dog/0.png")
    assert {t["label"] for t in cat["top"]} == {t["label"] for t in dog["top"]} == {"cat", "dog"}  # two, no more
    assert sum(t["probability"] for t in cat["top"]) == pytest.approx(1.0, abs=1e-5)
    ev = run_zoo(capsys, "eval", "--weights", str(out), "--json", "--out", str(tmp_path / "cm.png"))
    assert ev.code == 0, ev.err
    report = json.loads(ev.out)
    assert list(report["per_class_accuracy"]) == ["cat", "dog"] and report["examples"] == 40
    assert report["accuracy"] > 0.9  # reddish against bluish noise, after 8 steps of the whole split
    assert len(report["confusion_matrix"]) == 2


def test_grey_folder_trains_an_rgb_model_which_predicts_grey_files(grey, tmp_path, capsys):
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--data", str(grey), "--set", "model.in_chans=3", "--out", str(out), *QUICK)
    assert r.code == 0, r.err
    pre = bundle_config(out)["preprocessing"]
    train = load_dataset(str(grey), "train", val_size="auto")
    # grey statistics, one per model input channel
    assert pre["mean"] == pytest.approx([train.mean[0]] * 3) and pre["std"] == pytest.approx([train.std[0]] * 3)
    [result] = predict(capsys, out, grey / "test/dog/3.png")
    assert result["top"][0]["label"] in {"cat", "dog"} and len(result["top"]) == 2


def test_rgb_folder_trains_a_grey_model_normalised_by_its_luma_which_predicts(rgb, tmp_path, capsys):
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--data", str(rgb), "--set", "model.in_chans=1", "--out", str(out), *QUICK)
    assert r.code == 0, r.err
    pre = bundle_config(out)["preprocessing"]
    images = load_dataset(str(rgb), "train", val_size=0).images.double() / 255
    luma = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    assert pre["mean"] == pytest.approx([luma.mean().item()]) and pre["std"] == pytest.approx([luma.std(unbiased=False).item()])
    # was: RuntimeError: output with shape [1, 1, 32, 32] doesn't match the broadcast shape [1, 3, 32, 32]
    [result] = predict(capsys, out, rgb / "test/cat/1.png")
    assert {t["label"] for t in result["top"]} == {"cat", "dog"}


def test_statistics_are_taken_per_model_channel_or_per_image_channel():
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    x = images.float() / 255
    luma = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    per_model = prepare_batch(images, 8, 1, mean=(0.4,), std=(0.2,))  # a new bundle: the grey model's statistics
    assert torch.allclose(per_model, (luma - 0.4) / 0.2, atol=1e-6)
    legacy = prepare_batch(images, 8, 1, mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.4))  # RGB statistics of a grey model
    normalised = (x - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.2, 0.3, 0.4]).view(1, 3, 1, 1)
    assert torch.allclose(legacy, (normalised * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True), atol=1e-6)
    grey = images[:, :1]
    assert torch.equal(prepare_batch(grey, 8, 3, (0.3,) * 3, (0.2,) * 3), prepare_batch(grey, 8, 3, (0.3,), (0.2,)))
    with pytest.raises(ValueError, match="2 normalisation statistics fit neither the 3-channel images nor the model's 1"):
        prepare_batch(images, 8, 1, mean=(0.1, 0.2), std=(0.1, 0.2))


def test_a_folder_says_its_classes_and_channels_before_any_image_is_decoded(rgb, grey, tmp_path):
    info = dataset_for(str(rgb), DataConfig(name=str(rgb))).known_info()
    assert (info.num_classes, info.classes, info.in_chans, info.image_size) == (2, ("cat", "dog"), 3, 32)
    assert info.splits == {"train": 160, "test": 40}
    assert dataset_for(str(grey), DataConfig(name=str(grey))).known_info().in_chans == 1


def _bad_folder(root: Path, rgb: Path, case: str) -> tuple[Path, str]:
    from PIL import Image

    if case == "one class":
        shutil.copytree(rgb / "train/cat", root / "only")
        return root, rf"^error: {root} has one class \(only\); a classifier needs two or more"
    if case == "empty class":
        shutil.copytree(rgb / "train/cat", root / "cat")
        (root / "dog").mkdir()
        return root, rf"^error: image folder {root}: class directory 'dog' holds no images$"
    if case == "broken image":
        shutil.copytree(rgb / "train", root)
        (root / "dog/broken.png").write_bytes(b"not a png")
        return root, rf"^error: cannot read image {root}/dog/broken\.png: not an image PIL can decode$"
    for name in ("cat", "dog"):  # "too small": 12 px images for LeNet-5's 32 px input
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (12, 12), (60 * i, 0, 0)).save(root / name / f"{i}.png")
    return root, (rf"^error: image {root}/cat/0\.png is 12x12, too small for the model's 32x32 input \(it would be "
                  r"enlarged more than 2x\); remove it, or set a smaller model\.image_size$")


@pytest.mark.parametrize("case", ["one class", "empty class", "broken image", "too small"])
def test_a_bad_folder_is_one_line_exit_2_and_no_run_dir(case, rgb, tmp_path, capsys):
    folder, message = _bad_folder(tmp_path / "bad", rgb, case)
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--data", str(folder), "--out", str(out), *QUICK)
    assert r.code == 2
    errors = [line for line in r.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0] == r.err.strip().splitlines()[-1], r.err
    import re

    assert re.match(message, errors[0]), errors[0]
    assert not out.exists()


def test_files_that_are_not_images_are_skipped_and_counted(rgb, tmp_path, capsys):
    folder = tmp_path / "pets"
    shutil.copytree(rgb / "train", folder)
    (folder / "cat/README.txt").write_text("photos from the shelter")
    (folder / "dog/.DS_Store").write_bytes(b"\0\0")
    capsys.readouterr()
    ds = load_dataset(str(folder))
    assert len(ds) == 160
    assert f"image folder {folder}: skipped 2 file(s) that are not images (README.txt, .DS_Store)" in capsys.readouterr().err


def test_images_half_the_model_side_are_enlarged_not_refused(tmp_path, capsys):
    folder = make_folder(tmp_path / "small", "RGB", per_class=(24, 4), size=16)
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--data", str(folder), "--out", str(out), "--epochs", "1", "--quiet",
                "--set", "threads=1")
    assert r.code == 0, r.err  # 16 px images, enlarged 2x to LeNet's 32
    assert bundle_config(out)["config"]["image_size"] == 32


def test_a_mostly_grey_folder_is_decided_by_its_sampled_headers(tmp_path):
    folder = make_folder(tmp_path / "mixed", "L", per_class=(300, 2))
    from PIL import Image

    # one RGB file that the evenly spread sample of 256 headers (positions 0, 2, 4, 7, ...) passes over
    Image.fromarray(np.zeros((32, 32, 3), np.uint8), "RGB").save(folder / "train/cat/1.png")
    info = dataset_for(str(folder), DataConfig(name=str(folder))).known_info()
    ds = load_dataset(str(folder))
    assert info.in_chans == ds.in_chans == 1  # every path agrees: grey, the odd file converted


def test_a_folder_of_one_class_loads_for_tasks_that_need_no_classes(rgb, tmp_path):
    folder = tmp_path / "faces"
    shutil.copytree(rgb / "train/cat", folder / "face")
    assert load_dataset(str(folder)).classes == ["face"]  # an autoencoder may learn from it; a classifier refuses it
