"""The image-to-image family: its datasets' recipes, the task's views and refusals, and the commands end to end.

The data is built offline in a session home: the session's real MNIST and a tiny CIFAR-10 in
torchvision's layout (random pixels, four images a batch), which mnist-m blends digits into.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_runner import run_zoo
from zoo_plugins.translation.blocks import ImagePool
from zoo_plugins.translation.downsampled import downsample
from zoo_plugins.translation.edges2fashion import sobel_edges
from zoo_plugins.translation.mnist_m import blend

FAST = ["--set", "threads=1", "--set", "model.width=0.25", "--set", "train.max_train_examples=48",
        "--set", "train.max_eval_examples=24", "--set", "train.batch_size=16", "--set", "data.val_size=24"]


def write_tiny_cifar10(root: Path) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}, protocol=4))


@pytest.fixture(scope="session")
def translation_home(mnist_home, tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("translation-home")
    shutil.copytree(mnist_home / "data" / "MNIST", home / "data" / "MNIST")
    write_tiny_cifar10(home / "data")
    return home


@pytest.fixture
def home(translation_home, monkeypatch) -> Path:
    monkeypatch.setenv("ZOO_HOME", str(translation_home))
    return translation_home


# ---------------------------------------------------------------------- recipes


def test_mnist_m_is_the_absolute_difference_of_a_crop_and_the_binarised_digit():
    digits = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    digits[:, 0, 10:14, 10:14] = 7  # any ink > 0 becomes 255
    background = torch.full((1, 3, 32, 32), 40, dtype=torch.uint8)
    background[0, 1] = 200
    out = blend(digits, background, torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 28, 28) and out.dtype == torch.uint8
    assert out[0, :, 12, 12].tolist() == [215, 55, 215]  # |40 - 255|, |200 - 255|, |40 - 255|
    assert out[0, :, 0, 0].tolist() == [40, 200, 40]  # no ink: the crop itself


def test_sobel_edges_mark_a_squares_outline_and_not_its_flat_inside():
    image = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    image[0, 0, 8:20, 8:20] = 200
    edges = sobel_edges(image)[0, 0]
    assert set(edges.unique().tolist()) == {0, 255}
    assert edges[8, 14] == 255 and edges[14, 8] == 255  # on the outline
    assert edges[14, 14] == 0 and edges[2, 2] == 0  # flat inside and outside


def test_x4_downsampling_keeps_a_flat_image_flat_at_a_quarter_of_the_side():
    flat = torch.full((3, 1, 28, 28), 90, dtype=torch.uint8)
    small = downsample(flat, 4)
    assert small.shape == (3, 1, 7, 7) and torch.equal(small, torch.full_like(small, 90))


def test_mnist_m_builds_offline_pairs_each_image_with_its_mnist_digit_and_records_checksums(home):
    from zoo.data import load_dataset

    mnist = load_dataset("mnist", "test", val_size=0)
    pairs = load_dataset("mnist-m", "test", val_size=0)
    assert pairs.images.shape == (10000, 3, 28, 28) and pairs.sources.shape == (10000, 1, 28, 28)
    assert torch.equal(pairs.sources, mnist.images) and torch.equal(pairs.labels, mnist.labels)
    ink = mnist.images[0, 0] > 0
    assert not torch.equal(pairs.images[0][:, ink], pairs.images[0][:, ~ink][:, :ink.sum()])
    recipe = json.loads((home / "data" / "mnist-m" / "recipe.json").read_text())
    assert "BSDS500" in recipe["recipe"]["backgrounds"] and set(recipe["sha256"]) == {"train.safetensors",
                                                                                       "test.safetensors"}
    val = load_dataset("mnist-m", "val", val_size=100)
    assert len(val.sources) == len(val.images) == 100  # the hold-out slices both domains alike


def test_a_changed_mnist_m_file_is_refused_in_one_line_naming_the_checksum(home, tmp_path):
    from zoo.data import DataError
    from zoo_plugins.translation.mnist_m import MNISTM

    root = tmp_path / "data"
    shutil.copytree(home / "data" / "mnist-m", root / "mnist-m")
    assert len(MNISTM().read(root, "test").images) == 10000
    with open(root / "mnist-m" / "test.safetensors", "r+b") as fh:
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 1]))
    with pytest.raises(DataError, match="checksum") as err:
        MNISTM().read(root, "test")
    assert "\n" not in str(err.value) and "rebuild" in str(err.value)


# ---------------------------------------------------------------------- the task's views and refusals


def test_the_unpaired_view_shuffles_b_apart_from_a_and_the_paired_one_keeps_them_together(home):
    import zoo
    from zoo.engine.config import compose
    from zoo_plugins.translation.task import ImageToImageTask

    def view(name: str) -> dict:
        model = {"width": 0.25, "chans_b": 3}
        config = compose(name, {"model": {"config": model}, "data": {"name": "mnist-m", "val_size": 0}})
        task = ImageToImageTask(zoo.create_model(name, **config.model.config.model_dump()), config, torch.device("cpu"))
        return task.load_split("test", 500)

    unpaired, paired = view("cyclegan"), view("pix2pix")
    assert torch.equal(paired["labels"], paired["labels_b"])
    assert (unpaired["labels"] != unpaired["labels_b"]).float().mean() > 0.8
    assert sorted(unpaired["labels"].tolist()) == sorted(unpaired["labels_b"].tolist())
    assert torch.equal(unpaired["targets"], paired["images"])  # metrics still see each A's own B


@pytest.mark.parametrize(("args", "says"), [
    (["pix2pix", "--data", "mnist-m", "--set", "model.chans_b=3", "--set", "data.pairing=unpaired"],
     "learns from paired data"),
    (["srresnet", "--data", "mnist-m"], "set model.chans_b=3"),
    (["cyclegan", "--data", "mnist"], "two-domain datasets"),
    (["srgan", "--data", "mnist-x4", "--set", "data.pairing=unpaired"], "learns from paired data"),
    (["pix2pix", "--data", "mnist-m", "--set", "model.chans_b=3", "--set", "data.pairing=sideways"], "pairing"),
])
def test_data_the_model_cannot_learn_from_is_refused_in_one_line_with_exit_2(home, tmp_path, capsys, args, says):
    result = run_zoo(capsys, "train", *args, *FAST, "--out", str(tmp_path / "run"))
    assert result.code == 2, result.err
    assert says in result.err and "Traceback" not in result.err


def test_the_image_pool_shows_new_fakes_until_full_then_half_of_them_swapped_for_older_ones():
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)
    torch.manual_seed(0)
    new = torch.full((200, 1, 1, 1), 100.0)
    shown = pool.query(new)
    swapped = (shown != 100).float().mean()
    assert 0.4 < swapped < 0.6  # once full, each new fake is swapped for a stored one with probability 1/2
    assert set(shown.flatten().tolist()) <= {0.0, 1.0, 2.0, 3.0, 100.0}
    assert pool.query(torch.full((1000, 1, 1, 1), 7.0)).eq(100).any()


# ---------------------------------------------------------------------- end to end


def test_cyclegan_trains_samples_translates_and_evaluates_both_directions_from_the_command_line(home, tmp_path, capsys):
    from PIL import Image

    run = tmp_path / "run"
    result = run_zoo(capsys, "train", "cyclegan", "--epochs", "1", *FAST, "--out", str(run))
    assert result.code == 0, result.err
    picture = Image.open(run / "samples" / "epoch_001.png")
    assert picture.size == (8 * 30 + 2, 6 * 30 + 2)  # 8 inputs; input, translation, reconstruction rows, both ways
    result = run_zoo(capsys, "sample", "--weights", str(run / "bundle"), "--n", "5", "--direction", "ba",
                     "--out", str(tmp_path / "s.png"))
    assert result.code == 0, result.err
    assert Image.open(tmp_path / "s.png").size == (5 * 30 + 2, 3 * 30 + 2)
    result = run_zoo(capsys, "eval", "--weights", str(run / "bundle"), "--n", "40", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["n"] == 40 and doc["split"] == "test" and doc["classifier_a"] == "lenet5.mnist"
    for key in ("fid_ab", "fid_ba", "cycle_l1_ab", "cycle_l1_ba", "label_ba", "psnr_ab", "ssim_ab"):
        assert np.isfinite(doc[key]), key
    assert 0 <= doc["label_ba"] <= 1 and 0 < doc["cycle_l1_ab"] < 1
    assert "label_ab" not in doc  # MNIST-M's digits need a classifier trained on them (--classifier-b)
    check_zoo_translate_writes_one_png_per_input_fitted_to_the_models_domain(run / "bundle", tmp_path, capsys)


def test_pix2pix_translates_in_python_in_the_datas_value_range_and_reports_psnr_against_the_target(home, tmp_path,
                                                                                                capsys):
    import zoo

    run = tmp_path / "run"
    result = run_zoo(capsys, "train", "pix2pix", "--data", "mnist-m", "--set", "model.chans_b=3", "--epochs", "1",
                     *FAST, "--out", str(run))
    assert result.code == 0, result.err
    model = zoo.from_pretrained(run / "bundle").eval()
    out = model.translate(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 3, 28, 28) and 0 <= out.min() and out.max() <= 1
    result = run_zoo(capsys, "eval", "--weights", str(run / "bundle"), "--n", "32", "--json",
                     "--classifier-a", "lenet5.mnist")
    doc = json.loads(result.out)
    assert result.code == 0 and doc["pairing"] == "paired" and 0 < doc["ssim_ab"] < 1 and doc["psnr_ab"] > 0
    assert "fid_ba" not in doc and "cycle_l1_ab" not in doc  # one way, no cycle


def test_srresnet_reports_psnr_fid_and_labels_with_the_bicubic_baseline_beside_them(home, tmp_path, capsys):
    run = tmp_path / "run"
    result = run_zoo(capsys, "train", "srresnet", "--epochs", "1", *FAST, "--out", str(run))
    assert result.code == 0, result.err
    result = run_zoo(capsys, "eval", "--weights", str(run / "bundle"), "--n", "32", "--json")
    doc = json.loads(result.out)
    for key in ("psnr_ab", "bicubic_psnr_ab", "label_ab", "bicubic_label_ab", "fid_ab", "bicubic_fid_ab"):
        assert np.isfinite(doc[key]), key
    assert doc["bicubic_psnr_ab"] > 10  # bicubic x4 of real digits is near them; the figure is a real baseline



def check_zoo_translate_writes_one_png_per_input_fitted_to_the_models_domain(bundle: Path, tmp_path: Path,
                                                                           capsys) -> None:
    from PIL import Image

    Image.new("L", (28, 28), 0).save(tmp_path / "zero.png")
    Image.new("RGB", (40, 40), (200, 10, 10)).save(tmp_path / "red.png")  # RGB and 40 px: read grey, resized to 28
    result = run_zoo(capsys, "translate", "--weights", str(bundle), str(tmp_path / "zero.png"),
                     str(tmp_path / "red.png"), "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    for name in ("zero", "red"):
        assert Image.open(tmp_path / "out" / f"{name}.png").size == (28, 28)
    result = run_zoo(capsys, "translate", "--weights", str(bundle), str(tmp_path / "red.png"),
                     "--direction", "ba", "--out", str(tmp_path / "back.png"))
    assert result.code == 0 and Image.open(tmp_path / "back.png").size == (28, 28)
    result = run_zoo(capsys, "translate", "--weights", str(bundle), str(tmp_path / "missing.png"),
                     "--out", str(tmp_path / "x.png"))
    assert result.code == 2 and "no such image file" in result.err and "Traceback" not in result.err
