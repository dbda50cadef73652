"""train.precision on the CPU: every registered task trains in bf16 (autocast), fp16 scales each player's loss with
its own GradScaler (a GAN, a critic's gradient penalty, an unrolled D), the scalers ride in the checkpoint so an fp16
run resumes exactly, tf32 is fp32 bit for bit where there is no TF32, and a precision the zoo does not know is one line.

Steps run at the contract's tiny size (`zoo.testing`: the model's own task, the engine's optimizers); the runs
through `zoo train` are MNIST subsets of a few steps.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from cli_runner import run_zoo
from zoo.engine import checkpoint as ckpt
from zoo.engine import distributed
from zoo.engine.precision import Precision
from zoo.engine.trainer import Stepper, build_optimizer
from zoo.registry import contribution_names

CPU = torch.device("cpu")
TINY = ["--batch-size", "128", "--quiet", "--set", "max_train_examples=1024", "--set", "max_eval_examples=100",
        "--set", "threads=1"]


def first_model_of(task: str) -> str | None:
    """One tiny built-in model per task: the first one registered for it (None for a task no model uses)."""
    from zoo.api import resolve
    from zoo.testing import plugin_model_names

    return next((n for n in plugin_model_names() if resolve(n)[0].entry.task == task), None)


def tiny_run(model_name: str, precision: str, **overrides):
    """`zoo.testing`'s tiny run of the model's own task (config fields in `overrides` changed), stepped under
    `precision` with the scalers it asks for."""
    from zoo.api import resolve
    from zoo.tasks import task_class
    from zoo.testing import _TinyRun, _build, _tiny_config

    config = _tiny_config(model_name)
    if overrides:
        config = config.model_copy(update={"model": config.model.model_copy(
            update={"config": config.model.config.model_copy(update=overrides)})})
    model = _build(model_name, config)
    task = task_class(resolve(model_name)[0].entry.task)(model, config, CPU)
    example = getattr(task, "example_batch", None)
    size = config.train.batch_size
    batch = example(size, torch.Generator().manual_seed(0)) if callable(example) else task.load_split("train", size)
    modules = task.modules()
    for module in modules.values():
        module.train()
    mode = Precision(precision, CPU)
    optimizers = {name: build_optimizer(config.train, m, name) for name, m in modules.items()}
    stepper = Stepper(optimizers, modules, config.train.grad_clip, distributed.from_env(), mode, mode.scalers(list(modules)))
    return _TinyRun(task, batch, modules, stepper), mode


def compute_dtypes(modules: dict[str, nn.Module]) -> set[torch.dtype]:
    """The output dtypes of every linear and convolution layer, recorded from here on (hooks stay for the test)."""
    seen: set[torch.dtype] = set()
    for module in modules.values():
        for layer in module.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                layer.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
    return seen


def take_steps(run, mode: Precision, steps: int = 1) -> dict[str, torch.Tensor]:
    metrics = {}
    for step in range(1, steps + 1):
        run.stepper.at_step = step
        with mode.step():
            metrics = run.task.train_step(run.batch, run.modules, run.stepper)
    return metrics


def params(modules: dict[str, nn.Module]) -> dict[str, list[torch.Tensor]]:
    return {n: [p.detach().clone() for p in m.parameters() if p.requires_grad] for n, m in modules.items()}


@pytest.fixture(autouse=True)
def _mnist(mnist_home, monkeypatch):
    """Tasks without `example_batch` (the GANs) step on the start of MNIST's training split."""
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))


@pytest.mark.parametrize("task", contribution_names("tasks"))
def test_every_task_trains_a_tiny_step_in_bf16_on_the_cpu(task):
    name = first_model_of(task)
    if name is None:
        pytest.skip(f"no registered model trains with task {task}")
    torch.manual_seed(0)
    reference, fp32 = tiny_run(name, "fp32")
    want = take_steps(reference, fp32)
    torch.manual_seed(0)
    run, bf16 = tiny_run(name, "bf16")
    dtypes = compute_dtypes(run.modules)
    before = params(run.modules)
    got = take_steps(run, bf16)
    assert torch.bfloat16 in dtypes, f"{name}: no linear or convolution layer computed in bfloat16 under autocast"
    assert run.stepper.first_non_finite() is None
    for module, old in before.items():
        new = [p for p in run.modules[module].parameters() if p.requires_grad]
        assert all(p.dtype == torch.float32 for p in new), f"{module}: weights must stay float32"
        assert any(not torch.equal(a, b) for a, b in zip(old, new)), f"bf16 left every parameter of '{module}' unchanged"
    # the same step in fp32 and bf16 from the same weights, batch and noise: the same loss to bf16's precision
    assert math.isfinite(float(got["loss"]))
    assert float(got["loss"]) == pytest.approx(float(want["loss"]), rel=0.05, abs=0.02)


@pytest.mark.parametrize("name, overrides", [("lenet5", {}), ("wgan_gp", {}), ("gan", {"unrolled_steps": 2})],
                         ids=["classifier", "critic-with-gradient-penalty", "unrolled-d"])
def test_fp16_scales_each_players_loss_with_its_own_scaler(name, overrides):
    run, fp16 = tiny_run(name, "fp16", **overrides)
    dtypes = compute_dtypes(run.modules)
    before = params(run.modules)
    metrics = take_steps(run, fp16, steps=3)
    assert torch.float16 in dtypes
    scalers = run.stepper.scalers
    assert sorted(scalers) == sorted(run.modules), "one GradScaler per optimizer"
    assert len({id(s) for s in scalers.values()}) == len(scalers)
    game = getattr(run.task, "game", None)
    updates = {"model": 3} if game is None else \
        {"discriminator": 3 * (game.d_steps + game.g_steps * game.unrolled_steps), "generator": 3 * game.g_steps}
    for module, scaler in scalers.items():
        state = scaler.state_dict()
        # each update either counts towards growth or, when its scaled gradients overflowed, halves the scale
        halvings = round(math.log2(65536.0 / state["scale"]))
        assert state["_growth_tracker"] + halvings >= 1 and state["_growth_tracker"] <= updates[module]
        if halvings == 0:
            assert state["_growth_tracker"] == updates[module], f"{module}: its scaler missed updates"
    assert math.isfinite(float(metrics["loss"]))
    assert run.stepper.first_non_finite() is None
    for module, old in before.items():
        new = [p for p in run.modules[module].parameters() if p.requires_grad]
        assert any(not torch.equal(a, b) for a, b in zip(old, new)), f"fp16 left every parameter of '{module}' unchanged"


def test_a_scalers_backed_off_state_rides_in_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    for _ in range(2):  # scaled by 65536, a loss of 1e36 overflows: the step is skipped and the scale halved
        with torch.autocast("cpu", dtype=torch.float16):
            loss = model(torch.ones(2, 4)).sum() * 1e36
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    assert scaler.get_scale() == 16384.0
    path = tmp_path / "c.safetensors"
    ckpt.save_checkpoint(path, model, {"model": opt}, {"model": None}, {"step": 2}, scalers={"model": scaler})
    fresh = torch.amp.GradScaler("cpu")
    tensors, doc = ckpt.read_checkpoint(path)
    ckpt.restore(tensors, doc, nn.Linear(4, 1), {"model": torch.optim.SGD(model.parameters(), lr=0.1)},
                 {"model": None}, path, scalers={"model": fresh})
    assert fresh.state_dict() == scaler.state_dict() and fresh.get_scale() == 16384.0


def test_tf32_on_a_cpu_is_fp32_bit_for_bit():
    weights = {}
    for precision in ("fp32", "tf32"):
        torch.manual_seed(0)
        run, mode = tiny_run("lenet5", precision)
        take_steps(run, mode, steps=2)
        weights[precision] = torch.cat([p.detach().flatten() for p in run.modules["model"].parameters()])
    assert torch.equal(weights["fp32"], weights["tf32"])


def test_an_fp16_run_resumed_with_more_epochs_ends_as_the_uninterrupted_one(tmp_path, capsys):
    """Constant lr, so one epoch resumed to two is the two-epoch run; the scalers, autocast and the rest are exact."""
    # on the CPU: bit-identical resume is the CPU's guarantee (a GPU's kernels need not be deterministic)
    fp16 = [*TINY, "--set", "precision=fp16", "--set", "scheduler=none", "--set", "warmup_epochs=0", "--set", "device=cpu"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert run_zoo(capsys, "train", "lenet5", "--out", str(whole), "--epochs", "2", *fp16).code == 0
    assert run_zoo(capsys, "train", "lenet5", "--out", str(split), "--epochs", "1", *fp16).code == 0
    _, doc = ckpt.read_checkpoint(split / "checkpoint.safetensors")
    assert set(doc["scalers"]) == {"model"} and doc["scalers"]["model"]["_growth_tracker"] > 0
    r = run_zoo(capsys, "train", "--resume", str(split), "--epochs", "2")
    assert r.code == 0, r.err
    a, b = load_file(whole / "bundle" / "model.safetensors"), load_file(split / "bundle" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(t.dtype == torch.float32 for t in a.values()), "an fp16 run ships float32 weights"


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_a_mixed_precision_run_learns_and_ships_float32_weights(precision, tmp_path, capsys):
    """On the run's device (a GPU where there is one: fp16 there steps fused Adam with its GradScaler)."""
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--out", str(out), "--epochs", "1", *TINY, "--set", f"precision={precision}")
    assert r.code == 0, r.err
    end = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    assert end["kind"] == "end" and end["eval_accuracy"] > 0.3  # chance is 0.1: eight steps learnt something
    assert all(t.dtype == torch.float32 for t in load_file(out / "bundle" / "model.safetensors").values())


def test_an_unknown_precision_is_one_line_naming_the_known_ones(tmp_path, capsys):
    r = run_zoo(capsys, "train", "lenet5", "--out", str(tmp_path / "run"), *TINY, "--set", "precision=fp8")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert "precision" in r.err and all(p in r.err for p in ("fp32", "bf16", "fp16", "tf32"))
    assert not (tmp_path / "run").exists()
