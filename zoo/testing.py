"""Contract tests a plugin author runs over their own package.

In the plugin's test suite::

    from zoo.testing import ModelContract

    class TestMyModels(ModelContract):
        plugin = "my-plugin"          # the `plugin.name` of your manifest

pytest then checks every model of that manifest: its config builds from the manifest's
defaults and round-trips through JSON, the model builds, and a forward pass at its input size
gives the documented output. The built-in models are checked with this same class.

Generative models get the generative surface checked too, found by duck typing:

- a model with `sample(n, generator=None, condition=None)`: n images of the config's
  `input_shape()`, finite, inside `model.value_range` (default (0, 1)); the same seeded
  `torch.Generator` gives the same images whatever the global RNG did in between, another
  seed gives others;
- a conditional model declares `condition_type = "label"` (conditioned on
  `zoo_config.condition_classes` labels) or `"prompt"` (text); `sample` then takes one
  condition for all n images or one per image (labels), and a label out of range is refused
  with a `zoo.errors.ZooError`;
- a model with `encode` and `decode`: codes decode back to images of the input shape
  (`encode` may return a tensor or a dataclass with a `mean`).
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
            out = model(x, **_conditions(model, 2))
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


    def test_samples_have_the_input_shape_and_value_range(self, model_name: str) -> None:
        import torch

        model = _generative(model_name)
        if model is None:
            return
        images = model.sample(3, generator=torch.Generator().manual_seed(0), **_conditions(model, 3))
        assert tuple(images.shape) == (3, *model.zoo_config.input_shape()), "sample(n) must give n images of the input shape"
        _check_range(model, images)

    def test_seeded_sampling_is_deterministic_and_ignores_the_global_rng(self, model_name: str) -> None:
        import torch

        model = _generative(model_name)
        if model is None:
            return
        cond = _conditions(model, 4)
        torch.manual_seed(1)
        first = model.sample(4, generator=torch.Generator().manual_seed(7), **cond)
        torch.manual_seed(2)
        again = model.sample(4, generator=torch.Generator().manual_seed(7), **cond)
        other = model.sample(4, generator=torch.Generator().manual_seed(8), **cond)
        assert torch.equal(first, again), "the same seeded generator must give the same samples"
        assert not torch.equal(first, other), "another seed must give other samples"

    def test_conditional_sampling_takes_one_or_per_image_conditions(self, model_name: str) -> None:
        import pytest
        import torch

        from zoo.errors import ZooError

        model = _generative(model_name)
        if model is None:
            return
        kind = getattr(model, "condition_type", None)
        gen = torch.Generator().manual_seed(0)
        if kind is None:  # an unconditional model refuses a condition in one clear line
            with pytest.raises(ZooError):
                model.sample(2, generator=gen, condition=0)
            return
        shape = (2, *model.zoo_config.input_shape())
        if kind == "prompt":
            assert tuple(model.sample(2, generator=gen, condition="a handwritten seven").shape) == shape
            return
        k = model.zoo_config.condition_classes
        for condition in (k - 1, torch.tensor([0, k - 1])):
            images = model.sample(2, generator=gen, condition=condition)
            assert tuple(images.shape) == shape
            _check_range(model, images)
        with pytest.raises(ZooError):
            model.sample(2, generator=gen, condition=k)

    def test_codes_decode_to_images_of_the_input_shape(self, model_name: str) -> None:
        import torch

        import zoo
        from zoo.api import resolve

        if not (_offers(model_name, "encode") and _offers(model_name, "decode")):
            task = resolve(model_name)[0].entry.task
            assert task not in ("autoencoding", "variational"), f"a {task} model must offer encode and decode"
            return
        model = zoo.create_model(model_name).eval()
        shape = model.zoo_config.input_shape()
        x = torch.rand(2, *shape)
        cond = _conditions(model, 2)
        with torch.no_grad():
            code = model.encode(x, **cond)
            z = code if isinstance(code, torch.Tensor) else code.mean
            assert isinstance(z, torch.Tensor) and z.shape[0] == 2, "encode must give one code per image"
            images = model.decode(z, **cond)
        assert tuple(images.shape) == (2, *shape)
        assert torch.isfinite(images).all()


def _generative(model_name: str) -> Any:
    """The model in eval mode if it offers `sample`; None for the rest, which must be of a task that
    does not generate (the contract's generative checks hold for them by their absence)."""
    import zoo
    from zoo.api import resolve

    if _offers(model_name, "sample"):
        return zoo.create_model(model_name).eval()
    task = resolve(model_name)[0].entry.task
    assert task == "classification", f"a {task} model must offer sample(n, generator=None, condition=None)"
    return None


def _offers(model_name: str, method: str) -> bool:
    """Whether the model has `method`, read off its builder class when it is one (building a VGG to find out costs seconds)."""
    import zoo
    from zoo.api import resolve

    builder = resolve(model_name)[0].builder()
    if isinstance(builder, type):
        return callable(getattr(builder, method, None))
    return callable(getattr(zoo.create_model(model_name), method, None))


def _conditions(model: Any, n: int) -> dict[str, Any]:
    """`condition=...` for a conditional model's calls (labels 0, 1, ... or a prompt), else nothing."""
    import torch

    kind = getattr(model, "condition_type", None)
    if kind == "label":
        return {"condition": torch.arange(n) % model.zoo_config.condition_classes}
    if kind == "prompt":
        return {"condition": ["a handwritten seven"] * n}
    return {}


def _check_range(model: Any, images: Any) -> None:
    import torch

    low, high = getattr(model, "value_range", (0.0, 1.0))
    assert torch.isfinite(images).all(), "samples hold NaN or inf"
    assert images.min() >= low and images.max() <= high, \
        f"samples span [{float(images.min()):.3g}, {float(images.max()):.3g}], outside value_range ({low}, {high})"


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
