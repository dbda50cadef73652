"""The run config: sections, `--set` routing, layers of defaults, and what a resume may change."""

from __future__ import annotations

import pytest

from zoo.engine.config import RunConfig, TrainConfig, compose, differences
from zoo.errors import ConfigError, ZooError


def test_defaults_are_the_lenet5_recipe_and_name_is_qualified():
    config = compose("lenet5")
    assert config.model.name == "zoo:lenet5"
    assert config.model.config.num_classes == 10
    assert config.data.name == "mnist"
    assert config.train == TrainConfig()
    assert (config.train.optimizer, config.train.scheduler, config.train.batch_size) == ("adamw", "cosine", 256)


def test_set_routes_section_keys_and_unambiguous_bare_keys():
    config = compose("lenet5", sets=["train.lr=0.1", "model.dropout=0.25", "model.config.activation=tanh",
                                     "epochs=3", "val_size=5000", "num_classes=12"])
    assert config.train.lr == 0.1 and config.train.epochs == 3
    assert config.model.config.dropout == 0.25 and config.model.config.activation == "tanh"
    assert config.model.config.num_classes == 12
    assert config.data.val_size == 5000


def test_bare_key_in_two_sections_is_refused_with_the_choices():
    # image_size is a field of both the model config and the data config
    with pytest.raises(ConfigError, match=r"model.image_size or data.image_size"):
        compose("lenet5", sets=["image_size=64"])


def test_unknown_key_is_refused_naming_the_fields():
    with pytest.raises(ConfigError, match=r"no field 'learning_rate'.*lr"):
        compose("lenet5", sets=["learning_rate=0.1"])


def test_bad_values_name_field_and_allowed_values():
    with pytest.raises(ConfigError, match=r"optimizer='lion'.*'adamw'"):
        compose("lenet5", flags={"optimizer": "lion"})
    with pytest.raises(ZooError, match=r"no dataset 'mnsit'; did you mean: mnist"):
        compose("lenet5", data_name="mnsit")


def test_layers_file_then_flags_then_sets():
    file_doc = {"train": {"lr": 0.5, "epochs": 9}, "data": {"val_size": 100}, "model": {"config": {"dropout": 0.1}}}
    config = compose("lenet5", file_doc, flags={"lr": 0.25}, sets=["train.epochs=2"])
    assert (config.train.lr, config.train.epochs, config.data.val_size, config.model.config.dropout) == (0.25, 2, 100, 0.1)


def test_bare_model_config_file_and_run_config_file_are_both_read():
    assert compose("lenet5", {"dropout": 0.3}).model.config.dropout == 0.3
    saved = compose("lenet5", sets=["train.lr=0.02", "model.dropout=0.2"])
    again = compose("lenet5", saved.model_dump(mode="json"))
    assert again == saved
    with pytest.raises(ConfigError, match="unknown config section"):
        compose("lenet5", {"train": {}, "optim": {}})


def test_plugin_recipe_from_train_defaults_sits_between_defaults_and_file(monkeypatch):
    from zoo.api import config_class, resolve

    cls = config_class(resolve("lenet5")[0])
    monkeypatch.setattr(cls, "train_defaults", lambda self: {"lr": 0.123, "epochs": 20}, raising=False)
    config = compose("lenet5", {"train": {"epochs": 5}})
    assert (config.train.lr, config.train.epochs) == (0.123, 5)


def test_differences_list_changed_fields_by_section():
    a = compose("lenet5")
    b = compose("lenet5", sets=["train.lr=0.5", "model.dropout=0.5", "train.epochs=7"])
    assert differences(a, b) == ["model.dropout 0.0 -> 0.5", "train.epochs 6 -> 7", "train.lr 0.004 -> 0.5"]
    assert isinstance(RunConfig.model_validate(b.model_dump(mode="json")), RunConfig)


def test_importing_the_run_config_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, zoo.engine.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_unset_model_fields_fit_the_dataset_and_set_ones_win():
    notes: list[str] = []
    config = compose("vgg11", notes=notes)
    assert {k: getattr(config.model.config, k) for k in ("num_classes", "in_chans", "image_size")} == \
        {"num_classes": 10, "in_chans": 1, "image_size": 32}
    assert notes == ["vgg11 fitted to mnist: num_classes 1000 -> 10, in_chans 3 -> 1, image_size 224 -> 32 "
                     "(set model.<field> to choose otherwise)"]
    chosen = compose("vgg11", sets=["model.image_size=64", "num_classes=1000"])
    assert (chosen.model.config.image_size, chosen.model.config.num_classes) == (64, 1000)
    cifar = compose("vgg11", data_name="cifar10")
    assert (cifar.model.config.in_chans, cifar.model.config.image_size) == (3, 32)
    assert compose("lenet5").model.config.image_size == 32  # 28 -> 32 is a pad, not a refit


def test_composed_sections_are_their_own_validated_classes_and_round_trip_through_yaml():
    import yaml

    from zoo.data import DataConfig
    from zoo.engine.config import to_yaml

    config = compose("lenet5", sets=["model.dropout=0.2", "data.val_size=100"])
    assert type(config.model.config).__name__ == "LeNet5Config" and isinstance(config.data, DataConfig)
    again = RunConfig.model_validate(yaml.safe_load(to_yaml(config)))
    assert again == config and type(again.model.config) is type(config.model.config)
    with pytest.raises(ConfigError, match="dropout"):  # a config.yaml the model's class refuses is refused by name
        from zoo.config import validate_config

        doc = yaml.safe_load(to_yaml(config))
        doc["model"]["config"]["dropout"] = 7
        validate_config(RunConfig, doc, "run config")
