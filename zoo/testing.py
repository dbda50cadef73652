"""Contract tests a plugin author runs over their own package.

In the plugin's test suite::

    from zoo.testing import ModelContract

    class TestMyModels(ModelContract):
        plugin = "my-plugin"          # the `plugin.name` of your manifest

pytest then checks every model of that manifest: its config builds from the manifest's
defaults and round-trips through JSON, the model builds, and a forward pass at its input size
gives the documented output. The built-in models are checked with this same class. A model that
passes the contract trains:

- its own task (the manifest's `task`) is built on it at tiny size (the config's shared-vocabulary
  fields shrunk, a small batch), so a model lacking part of the task's surface (`zoo.surfaces`) is
  refused there; one real training step (`task.train_step` with the engine's `Stepper` and
  optimizers) must give finite metrics and change the parameters of every module that has an
  optimizer, and `task.evaluate` on the same batch a finite main metric. The batch is the task's
  `example_batch(n, generator)` when it defines one (random data of the right layout), else the
  first n examples of its training split (`load_split`, which may fetch the dataset);
- export: the ONNX file `zoo.export` writes (the part of the model the task's surface says makes
  the output: `export_module()` on `export_inputs(batch)`, or the model itself for a classifier)
  runs in onnxruntime with the inputs the model names, gives outputs of the surface's kind (a
  classifier's N x num_classes logits; N images of the input shape from an image maker) and
  agrees with PyTorch;
- a bundle round trip: `save_pretrained` then `from_pretrained` gives the same config and tensors.

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
  (`encode` may return a tensor or a dataclass with a `mean`);
- an image-to-image model (`translate(x, direction)`, `directions`, `zoo_config.domain_shape`):
  in every direction it offers, images of the source domain in [0, 1] become images of the target
  domain's shape inside `value_range`, the same input gives the same output whatever the global RNG
  did, a direction it does not offer is refused with a `zoo.errors.ZooError`, and its ONNX graph
  gives one output per direction of the target domain's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
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
        if _is_classifier(spec):
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

    def test_its_task_trains_one_step_at_tiny_size(self, model_name: str) -> None:
        """The manifest's task, built on the model (which checks its surface), takes one real optimizer step."""
        import torch

        run = _tiny_run(model_name)
        before = {name: [p.detach().clone() for p in _trainable(m)] for name, m in run.modules.items()}
        metrics = run.task.train_step(run.batch, run.modules, run.stepper)
        assert metrics, "train_step returned no metrics"
        bad = [k for k, v in metrics.items() if not torch.isfinite(torch.as_tensor(v).detach()).all()]
        assert not bad, f"train_step gave non-finite {', '.join(bad)}"
        for name, module in run.modules.items():
            changed = any(not torch.equal(a, p) for a, p in zip(before[name], _trainable(module)))
            assert changed, f"one training step left every parameter of '{name}' unchanged"

    def test_its_task_evaluates_to_a_finite_main_metric(self, model_name: str) -> None:
        import math

        run = _tiny_run(model_name)
        for module in run.modules.values():
            module.eval()
        result = run.task.evaluate(run.batch)
        main = run.task.main_metric
        assert main in result, f"evaluate gave {sorted(result)}, not the task's main metric '{main}'"
        assert math.isfinite(result[main]), f"evaluate gave {main} = {result[main]}"

    def test_onnx_export_is_the_part_its_task_says_makes_the_output(self, model_name: str, tmp_path: Any) -> None:
        """zoo.export writes the surface's part; onnxruntime runs it on the inputs the model names, as PyTorch does."""
        import pytest
        import torch

        from zoo.export import ATOL, export, export_inputs, export_module, surface_of

        ort = pytest.importorskip("onnxruntime", reason="the export check needs onnxruntime (zoo's `export` extra)")
        model = _tiny_model(model_name).eval()
        path = export(model, "onnx", tmp_path / "model.onnx").path
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inputs = export_inputs(model, 3, torch.Generator().manual_seed(2))
        assert [i.name for i in session.get_inputs()] == list(inputs), "the graph's inputs are not the model's"
        got = [torch.from_numpy(o) for o in session.run(None, {k: v.numpy() for k, v in inputs.items()})]
        with torch.no_grad():
            want = _tensors(export_module(model)(*inputs.values()))
        assert [g.shape for g in got] == [w.shape for w in want], "onnxruntime's output shapes are not PyTorch's"
        worst = max(float((g - w).abs().max()) for g, w in zip(got, want))
        assert worst <= ATOL, f"onnxruntime differs from PyTorch by {worst:.3g}"
        kind = getattr(surface_of(model), "export_output", None)
        config = model.zoo_config
        if kind == "logits":
            assert list(inputs) == ["image"] and tuple(got[0].shape) == (3, config.num_classes), \
                "a classifier exports image -> N x num_classes logits"
        elif kind == "image":
            assert tuple(got[0].shape) == (3, *config.input_shape()), "the exported part must make input-shaped images"
        elif kind == "translation":
            want = [(3, *config.domain_shape(d[1])) for d in model.directions]
            assert [tuple(g.shape) for g in got] == want, "the exported part must make one translation per direction"

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

    def test_translations_have_the_target_domains_shape_and_value_range(self, model_name: str) -> None:
        import torch

        model = _translator(model_name)
        if model is None:
            return
        config = model.zoo_config
        for direction in model.directions:
            source, target = direction
            x = torch.rand(3, *config.domain_shape(source), generator=torch.Generator().manual_seed(0))
            out = model.translate(x, direction=direction)
            assert tuple(out.shape) == (3, *config.domain_shape(target)), f"translate({direction}) gave {tuple(out.shape)}"
            _check_range(model, out)

    def test_translation_is_deterministic_and_refuses_a_direction_it_lacks(self, model_name: str) -> None:
        import pytest
        import torch

        from zoo.errors import ZooError

        model = _translator(model_name)
        if model is None:
            return
        for direction in model.directions:
            x = torch.rand(2, *model.zoo_config.domain_shape(direction[0]), generator=torch.Generator().manual_seed(1))
            torch.manual_seed(1)
            first = model.translate(x, direction=direction)
            torch.manual_seed(2)
            assert torch.equal(first, model.translate(x, direction=direction)), "translate must be a function of x"
        for direction in {"ab", "ba"} - set(model.directions):
            with pytest.raises(ZooError):
                model.translate(torch.rand(1, *model.zoo_config.domain_shape(direction[0])), direction=direction)

    def test_codes_decode_to_images_of_the_input_shape(self, model_name: str) -> None:
        import torch

        import zoo
        from zoo.api import resolve

        if not (_offers(model_name, "encode") and _offers(model_name, "decode")):
            required = getattr(_surface(resolve(model_name)[0]), "required", ())
            assert not {"encode", "decode"} <= set(required), "its task's surface needs encode and decode"
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


def _translator(model_name: str) -> Any:
    """The model (tiny, eval mode) if it offers `translate`, else None."""
    if not _offers(model_name, "translate"):
        return None
    return _tiny_model(model_name).eval()


def _generative(model_name: str) -> Any:
    """The model in eval mode if it offers `sample`; None for the rest, whose task's surface must not need
    it (the contract's generative checks hold for them by their absence)."""
    import zoo
    from zoo.api import resolve

    if _offers(model_name, "sample"):
        return zoo.create_model(model_name).eval()
    spec = resolve(model_name)[0]
    assert "sample" not in getattr(_surface(spec), "required", ()), \
        f"a {spec.entry.task} model must offer sample(n, generator=None, condition=None)"
    return None


def _surface(spec: Any) -> type | None:
    """The surface class of the model's task (`zoo.surfaces`); None for a task that declares none."""
    from zoo.tasks import task_class

    return getattr(task_class(spec.entry.task), "surface", None)


def _is_classifier(spec: Any) -> bool:
    from zoo.surfaces.classifier import Classifier

    surface = _surface(spec)
    return isinstance(surface, type) and issubclass(surface, Classifier)


@dataclass
class _TinyRun:
    """A model at tiny size, its own task, one batch of `batch_size` examples and the engine's optimizers."""

    task: Any
    batch: dict[str, Any]
    modules: dict[str, Any]
    stepper: Any


def _tiny_config(model_name: str) -> Any:
    """The run config of a tiny run: `_small_overrides`, the recipe fitted to the data (`zoo.engine.config.compose`),
    and a batch of `_tiny_batch_size` examples."""
    from zoo.tasks import task_class
    from zoo.api import resolve
    from zoo.engine.config import compose

    small = _small_overrides(model_name)
    if not hasattr(task_class(resolve(model_name)[0].entry.task), "example_batch"):
        small.pop("num_classes", None)  # the batch is the dataset's: its labels decide
    model = {"model": {"config": small}}
    size = _tiny_batch_size(compose(model_name, model).train.batch_size)
    return compose(model_name, {**model, "train": {"batch_size": size, "max_train_examples": size,
                                                    "max_eval_examples": size}})


def _tiny_batch_size(recipe: int) -> int:
    """The recipe's batch size halved while it stays even and above 16: small, and still divisible by what the
    recipe's size was chosen to be divisible by (a critic's d_steps slices, processes)."""
    while recipe % 2 == 0 and recipe > 16:
        recipe //= 2
    return recipe


def _build(model_name: str, config: Any) -> Any:
    import torch

    import zoo

    torch.manual_seed(0)
    section = config.model.config
    return zoo.create_model(model_name, **(section if isinstance(section, dict) else section.model_dump()))


def _tiny_model(model_name: str) -> Any:
    return _build(model_name, _tiny_config(model_name))


def _tiny_run(model_name: str) -> _TinyRun:
    """The model's own task on the tiny model; the batch is the task's `example_batch`, else the start of its
    training split."""
    import torch

    from zoo.api import resolve
    from zoo.engine import distributed
    from zoo.engine.trainer import Stepper, build_optimizer
    from zoo.tasks import task_class

    config = _tiny_config(model_name)
    model = _build(model_name, config)
    task = task_class(resolve(model_name)[0].entry.task)(model, config, torch.device("cpu"))
    size = config.train.batch_size
    example = getattr(task, "example_batch", None)
    batch = example(size, torch.Generator().manual_seed(0)) if callable(example) else task.load_split("train", size)
    modules = task.modules()
    for module in modules.values():
        module.train()
    optimizers = {name: build_optimizer(config.train, m, name) for name, m in modules.items()}
    return _TinyRun(task, batch, modules, Stepper(optimizers, modules, config.train.grad_clip, distributed.from_env()))


def _trainable(module: Any) -> list:
    return [p for p in module.parameters() if p.requires_grad]


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
