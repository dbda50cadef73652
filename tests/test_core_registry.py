"""Discovery, name resolution, configs and the Python API."""

from __future__ import annotations

import subprocess
import sys

import pytest
from plugin_fixtures import manifest, model_entry, plugins  # noqa: F401  (fixture)

import zoo
from zoo.errors import ConfigError, UnknownModelError
from zoo.registry import get_registry


def test_import_zoo_does_not_import_torch():
    code = "import sys, zoo; zoo.list_models(); zoo.model_info('lenet5'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_zoo_list_command_does_not_import_torch():
    code = ("import sys\nfrom zoo.cli import main\ntry:\n    main(['list', '--json'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "TORCH False"


def test_list_models_sorts_naturally_and_filters(plugins):
    pkg = "natpkg"
    plugins.install("nat", pkg, manifest("nat", *(model_entry(n, pkg) for n in ("net10", "net2", "net1"))))
    assert zoo.list_models("net*") == ["net1", "net2", "net10"]
    assert zoo.list_models(["net1*", "net2"]) == ["net1", "net2", "net10"]
    assert zoo.list_models("net*", task="adversarial") == []
    assert "net2" in zoo.list_models(task="classification", family="tiny")


def test_family_name_resolves_to_its_default_member():
    info = zoo.model_info("lenet")
    assert info.name == "lenet5"
    assert "default member 'lenet5'" in info.note
    assert zoo.create_model("lenet").zoo_name == "zoo:lenet5"


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match=r"no model 'lenet6'; did you mean: lenet, lenet5"):
        zoo.create_model("lenet6")


def test_qualified_name_always_resolves():
    assert zoo.model_info("zoo:lenet5").qualified_name == "zoo:lenet5"
    with pytest.raises(UnknownModelError):
        zoo.model_info("nosuchplugin:lenet5")


def test_get_config_applies_overrides_and_rejects_bad_values():
    config = zoo.get_config("lenet5", num_classes=3)
    assert config.num_classes == 3
    with pytest.raises(ConfigError, match=r"num_classes=0: input should be greater than or equal to 1"):
        zoo.get_config("lenet5", num_classes=0)
    with pytest.raises(ConfigError, match=r"unknown field 'depth' \(allowed: num_classes, in_chans"):
        zoo.get_config("lenet5", depth=17)


def test_create_model_carries_its_name_and_config():
    model = zoo.create_model("lenet5", num_classes=7)
    assert model.zoo_name == "zoo:lenet5"
    assert model.zoo_config.num_classes == 7
    assert model.classifier[-1].out_features == 7


def test_builtin_manifest_and_code_agree_both_ways():
    """Every manifest entry imports and validates; every config class in the plugin code is registered."""
    import importlib
    import pkgutil

    import zoo_plugins
    from zoo.api import config_class
    from zoo.config import ModelConfig

    reg = get_registry()
    builtin = [s for s in reg.visible() if s.plugin.builtin]
    referenced = set()
    for spec in builtin:
        cls = config_class(spec)
        zoo.get_config(spec.qualified_name)  # the variant's defaults validate
        assert callable(spec.builder())
        referenced.add((cls.__module__, cls.__qualname__))
    defined = set()
    for mod in pkgutil.walk_packages(zoo_plugins.__path__, "zoo_plugins."):
        module = importlib.import_module(mod.name)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, ModelConfig) and obj.__module__ == module.__name__:
                defined.add((obj.__module__, obj.__qualname__))
    bases = {(b.__module__, b.__qualname__) for spec in builtin for b in config_class(spec).__mro__[1:]}
    unregistered = {f"{m}:{q}" for m, q in defined - bases} - {f"{m}:{q}" for m, q in referenced}
    assert not unregistered, f"config classes with no manifest entry: {sorted(unregistered)}"
    assert referenced <= defined


def test_edited_manifest_is_read_again_despite_the_parse_cache(plugins, tmp_path, monkeypatch):
    import yaml

    from zoo.registry import refresh

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    path = plugins.install("edit-plugin", "editpkg", manifest("edit", model_entry("editnet", "editpkg")))
    assert zoo.model_info("editnet").summary == "editnet for tests."
    data = yaml.safe_load(path.read_text())
    data["models"][0]["summary"] = "edited, and longer than before"
    path.write_text(yaml.safe_dump(data))
    refresh()
    assert zoo.model_info("editnet").summary == "edited, and longer than before"


def test_corrupt_parse_cache_is_ignored(tmp_path, monkeypatch):
    from zoo.registry import refresh

    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    refresh()
    (cache,) = (tmp_path / "cache").glob("manifests-*.json")
    cache.write_text("{not json")
    assert "lenet5" in refresh().by_name
    refresh()
