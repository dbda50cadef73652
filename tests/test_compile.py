"""train.compile: the task's modules under torch.compile (Inductor, which on a CPU builds C++ with the system's
compiler). A module that fails to compile stops the run with one line naming it, no silent fall back to eager; a
compiled step computes what the eager one does, for one tiny model of every registered task; the weights a compiled
run saves are the modules' own (no `_orig_mod.` anywhere).

The failure tests are fast (Inductor gives up at its compiler check). Compiling costs about a minute of CPU per
model here (each kernel is a g++ run), so the successful compiles are marked slow (`pytest -m slow`).
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from cli_runner import run_zoo
from zoo.engine.precision import Compiled
from zoo.registry import contribution_names

TINY = ["--epochs", "1", "--batch-size", "64", "--quiet", "--set", "max_train_examples=512", "--set",
        "max_eval_examples=64", "--set", "threads=1", "--set", "warmup_epochs=0"]


@pytest.fixture(autouse=True)
def _fresh_dynamo(mnist_home, monkeypatch):
    """MNIST for the runs; Dynamo's caches emptied after each test, so one test's compiled (or failed) frames are not
    another's."""
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("name, module", [("lenet5", "model"), ("dcgan", "discriminator")])
def test_a_module_that_fails_to_compile_stops_the_run_in_one_line_naming_it(name, module, tmp_path, capsys):
    import torch._inductor.config as inductor

    out = tmp_path / "run"
    with inductor.patch({"cpp.cxx": ("/nonexistent/c++",)}):  # no C++ compiler: Inductor cannot build kernels
        r = run_zoo(capsys, "train", name, "--data", "mnist", "--out", str(out), *TINY, "--set", "compile=true",
                    "--set", "device=cpu")  # on a GPU Inductor would build Triton kernels, not C++
    assert r.code == 2, r.err
    assert len(r.err.strip().splitlines()) == 1 and r.err.startswith("error: ")
    assert f"torch.compile failed on module '{module}'" in r.err
    assert not (out / "bundle").exists() and not (out / "checkpoint.safetensors").exists()


def test_an_unknown_compile_mode_is_one_line_naming_the_known_ones(tmp_path, capsys):
    r = run_zoo(capsys, "train", "lenet5", "--out", str(tmp_path / "run"), *TINY, "--set", "compile_mode=fastest")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert all(mode in r.err for mode in ("default", "reduce-overhead", "max-autotune"))


def test_the_compiled_wrapper_holds_no_second_copy_of_the_weights():
    """What the task steps under train.compile: its state dict is the module's own, and it follows train()/eval()."""
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(0.5))
    wrapped = Compiled(module, "model", "default")
    assert list(wrapped.state_dict()) == list(module.state_dict()) == ["0.weight", "0.bias"]
    assert not list(wrapped.parameters()), "the compiled callable is not a registered submodule"
    wrapped.eval()
    assert not module.training
    wrapped.train()
    assert module.training


def first_model_of(task: str) -> str | None:
    from zoo.api import resolve
    from zoo.testing import plugin_model_names

    return next((n for n in plugin_model_names() if resolve(n)[0].entry.task == task), None)


@pytest.mark.slow
@pytest.mark.parametrize("task", contribution_names("tasks"))
def test_every_task_takes_a_compiled_tiny_step_as_the_eager_one_does(task):
    """The same loss and gradients (a VAE's or GAN's noise drawn as eager draws it: Inductor's fallback_random)."""
    import torch._inductor.config as inductor

    from zoo.testing import _tiny_run

    name = first_model_of(task)
    if name is None:
        pytest.skip(f"no registered model trains with task {task}")
    results = {}
    for compiled in (False, True):
        torch.manual_seed(0)
        run = _tiny_run(name)
        keys = {n: list(m.state_dict()) for n, m in run.modules.items()}
        modules = {n: Compiled(m, n, "default") for n, m in run.modules.items()} if compiled else run.modules
        torch.manual_seed(1)
        with inductor.patch({"fallback_random": True}):
            metrics = run.task.train_step(run.batch, modules, run.stepper)
        assert {n: list(m.state_dict()) for n, m in run.modules.items()} == keys
        assert not any("_orig_mod" in k for m in modules.values() for k in m.state_dict())
        grads = [p.grad.flatten() for m in run.modules.values() for p in m.parameters() if p.grad is not None]
        results[compiled] = (float(metrics["loss"]), torch.cat(grads))
    (eager_loss, eager_grads), (loss, grads) = results[False], results[True]
    assert loss == pytest.approx(eager_loss, rel=1e-4, abs=1e-5)
    assert grads.shape == eager_grads.shape
    worst = float((grads - eager_grads).abs().max())
    assert worst <= 1e-4 * float(eager_grads.abs().max()) + 1e-6, f"the compiled step's gradients differ by {worst:.2g}"


@pytest.mark.slow
def test_a_compiled_run_saves_the_modules_own_weights_and_learns_what_eager_does(tmp_path, capsys):
    runs = {}
    for mode in ("eager", "compiled"):
        out = tmp_path / mode
        extra = ["--set", "compile=true"] if mode == "compiled" else []
        r = run_zoo(capsys, "train", "lenet5", "--out", str(out), *TINY, *extra)
        assert r.code == 0, r.err
        runs[mode] = out
    for name in ("bundle/model.safetensors", "last.safetensors", "best.safetensors"):
        eager, compiled = load_file(runs["eager"] / name), load_file(runs["compiled"] / name)
        assert list(compiled) == list(eager) and not any("_orig_mod" in k for k in compiled)
        worst = max(float((compiled[k] - eager[k]).abs().max()) for k in eager)
        assert worst < 1e-3, f"{name}: the compiled run's weights are {worst:.2g} away from the eager run's"
    from zoo.engine.checkpoint import read_checkpoint

    tensors, _ = read_checkpoint(runs["compiled"] / "checkpoint.safetensors")
    assert not any("_orig_mod" in k for k in tensors)
