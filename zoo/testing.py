"""Contract tests a plugin author runs over their own package.

In the plugin's test suite::

    from zoo.testing import ModelContract

    class TestMyModels(ModelContract):
        plugin = "my-plugin"          # the `plugin.name` of your manifest

pytest then checks every model of that manifest: its config builds from the manifest's
defaults and round-trips through JSON, the model builds, and a forward pass at its input size
gives the documented output. The built-in models are checked with this same class.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ModelContract", "plugin_model_names"]


def plugin_model_names(plugin: str | None = None) -> list[str]:
    """Qualified names (`plugin:model`) of every model a plugin declares (all plugins if None)."""
    from zoo.api import natural_key
    from zoo.registry import get_registry

    reg = get_registry()
    names = [s.qualified_name for s in reg.visible() if plugin is None or s.plugin.name == plugin]
    return sorted(names, key=natural_key)


class ModelContract:
    """Base class of a test class; set `plugin` (and optionally `models`) in the subclass."""

    plugin: str | None = None
    models: tuple[str, ...] | None = None

    def pytest_generate_tests(self, metafunc: Any) -> None:
        if "model_name" in metafunc.fixturenames:
            names = list(self.models) if self.models is not None else plugin_model_names(self.plugin)
            if not names:
                raise LookupError(f"plugin {self.plugin!r} declares no models (is it installed?)")
            metafunc.parametrize("model_name", names, ids=[n.split(":", 1)[-1] for n in names])

    def test_config_builds_from_manifest_defaults_and_round_trips_json(self, model_name: str) -> None:
        import zoo

        config = zoo.get_config(model_name)
        again = type(config).model_validate_json(config.model_dump_json())
        assert again == config
        assert type(config).model_json_schema()["properties"], "config schema lists no fields"

    def test_manifest_input_size_matches_config(self, model_name: str) -> None:
        from zoo.api import resolve

        import zoo

        spec, _ = resolve(model_name)
        config = zoo.get_config(model_name)
        if hasattr(config, "image_size"):
            assert config.image_size == spec.entry.input_size
        if hasattr(config, "in_chans"):
            assert config.in_chans == spec.entry.in_chans

    def test_builds_and_runs_forward_at_input_size(self, model_name: str) -> None:
        import torch

        import zoo
        from zoo.api import resolve

        spec, _ = resolve(model_name)
        model = zoo.create_model(model_name).eval()
        config = model.zoo_config
        x = torch.randn(2, *config.input_shape())
        with torch.no_grad():
            out = model(x)
        tensors = _tensors(out)
        assert tensors, f"{model_name}: forward returned no tensor"
        assert all(t.shape[0] == 2 for t in tensors), "batch dimension not preserved"
        assert all(torch.isfinite(t).all() for t in tensors), "forward produced NaN or inf"
        if spec.entry.task == "classification":
            assert tuple(out.shape) == (2, config.num_classes)
        assert sum(p.numel() for p in model.parameters()) > 0

    def test_weights_round_trip(self, model_name: str, tmp_path: Any) -> None:
        """save_pretrained -> from_pretrained rebuilds the same config and every tensor bit for bit."""
        import torch

        import zoo

        small = _small_overrides(model_name)
        model = zoo.create_model(model_name, **small).eval()
        bundle = zoo.save_pretrained(model, tmp_path / "bundle")
        again = zoo.from_pretrained(bundle)
        assert again.zoo_name == model.zoo_name and again.zoo_config == model.zoo_config
        saved, loaded = model.state_dict(), again.state_dict()
        assert list(saved) == list(loaded)
        assert all(torch.equal(saved[k], loaded[k]) for k in saved), "a tensor changed in the round trip"
        fresh = zoo.load_weights(zoo.create_model(model_name, **small), bundle)
        assert all(torch.equal(saved[k], v) for k, v in fresh.state_dict().items())


# Shared-vocabulary fields that shrink a model without changing its structure; each is used
# only where the model's config has it and accepts the value.
_SMALL = {"num_classes": 3, "width": 0.125, "hidden": 32}


def _small_overrides(model_name: str) -> dict[str, Any]:
    """The subset of `_SMALL` the model's config validates (kept one field at a time)."""
    import zoo
    from zoo.errors import ConfigError

    fields = type(zoo.get_config(model_name)).model_fields
    chosen: dict[str, Any] = {}
    for name, value in _SMALL.items():
        if name not in fields:
            continue
        try:
            zoo.get_config(model_name, **chosen, **{name: value})
        except ConfigError:
            continue
        chosen[name] = value
    return chosen


def _tensors(out: Any) -> list:
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    if hasattr(out, "__dataclass_fields__"):
        return [t for f in out.__dataclass_fields__ for t in _tensors(getattr(out, f))]
    return []
