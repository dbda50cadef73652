"""Checkpoints: one safetensors file that restores model, optimizer, schedule and RNG exactly."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.engine import checkpoint as ckpt
from zoo.engine.config import TrainConfig
from zoo.engine.trainer import build_optimizer, build_scheduler, epoch_order


def _trained(seed: int = 0, steps: int = 3):
    torch.manual_seed(seed)
    model = zoo.create_model("lenet5")
    train = TrainConfig(epochs=2, warmup_epochs=0.5)
    opt = build_optimizer(train, model)
    sched = build_scheduler(train, opt, steps_per_epoch=4)
    for step in range(1, steps + 1):
        loss = model(torch.randn(4, 1, 32, 32)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step_update(step)
    return model, opt, sched


def _continue(model, opt, sched, first_step: int) -> torch.Tensor:
    for step in range(first_step, first_step + 2):
        loss = model(torch.randn(4, 1, 32, 32)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step_update(step)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("optimizer", ["adamw", "nesterov", "rmsprop", "adagrad"])
def test_restored_checkpoint_continues_bit_identically(tmp_path, optimizer):
    torch.manual_seed(1)
    model = zoo.create_model("lenet5")
    train = TrainConfig(optimizer=optimizer, epochs=2)
    opt, path = build_optimizer(train, model), tmp_path / "c.safetensors"
    sched = build_scheduler(train, opt, 4)
    ckpt.save_checkpoint(path, model, {"model": opt}, {"model": sched}, {"step": 0})
    expected = _continue(model, opt, sched, 1)
    expected_lr = opt.param_groups[0]["lr"]

    torch.manual_seed(99)  # scramble everything the checkpoint must restore
    model2 = zoo.create_model("lenet5")
    opt2 = build_optimizer(train, model2)
    sched2 = build_scheduler(train, opt2, 4)
    tensors, doc = ckpt.read_checkpoint(path)
    assert ckpt.restore(tensors, doc, model2, {"model": opt2}, {"model": sched2}, path) == {"step": 0}
    assert torch.equal(_continue(model2, opt2, sched2, 1), expected)
    assert opt2.param_groups[0]["lr"] == expected_lr


def test_optimizer_state_and_schedule_are_stored_by_name(tmp_path):
    model, opt, sched = _trained()
    path = tmp_path / "c.safetensors"
    ckpt.save_checkpoint(path, model, {"model": opt}, {"model": sched}, {"step": 3})
    tensors, doc = ckpt.read_checkpoint(path)
    assert torch.equal(tensors["optim.model.0.exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert torch.equal(tensors["optim.model.0.step"], opt.state_dict()["state"][0]["step"])
    assert doc["schedulers"]["model"] == sched.state_dict()
    assert doc["state"] == {"step": 3}


def test_checkpoint_is_not_a_pickle_and_says_what_it_is(tmp_path):
    model, opt, sched = _trained()
    path = tmp_path / "c.safetensors"
    ckpt.save_checkpoint(path, model, {"model": opt}, {"model": sched}, {"step": 3})
    head = path.read_bytes()[:16]
    assert not head.startswith(b"\x80") and not head.startswith(b"PK")  # neither pickle nor torch zip
    tensors, doc = ckpt.read_checkpoint(path)
    assert doc["format"] == ckpt.FORMAT and "rng.torch" in tensors
    assert not list(tmp_path.glob(".*tmp*"))  # the temp file was renamed into place


def test_checkpoint_of_another_architecture_is_refused_naming_tensors(tmp_path):
    model, opt, sched = _trained()
    path = tmp_path / "c.safetensors"
    ckpt.save_checkpoint(path, model, {"model": opt}, {"model": sched}, {"step": 3})
    other = zoo.create_model("lenet5", num_classes=7)
    tensors, doc = ckpt.read_checkpoint(path)
    with pytest.raises(ckpt.CheckpointError, match=r"disagrees with the run's model config.*classifier\.\d+\.weight"):
        ckpt.restore(tensors, doc, other, {}, {}, path)


def test_epoch_order_depends_only_on_seed_and_epoch():
    assert torch.equal(epoch_order(100, 3, 2), epoch_order(100, 3, 2))
    assert not torch.equal(epoch_order(100, 3, 2), epoch_order(100, 3, 1))
    assert sorted(epoch_order(100, 3, 2).tolist()) == list(range(100))


@pytest.mark.parametrize("scheduler", ["cosine", "step", "multistep", "poly", "tanh", "wsd", "constant"])
def test_every_schedule_resumes_at_the_same_learning_rate(tmp_path, scheduler):
    train = TrainConfig(scheduler=scheduler, epochs=3, decay_epochs=1, decay_milestones=[1, 2])
    model = zoo.create_model("lenet5")
    opt = build_optimizer(train, model)
    sched = build_scheduler(train, opt, 10)
    for step in range(1, 13):
        sched.step_update(step)
    path = tmp_path / "c.safetensors"
    ckpt.save_checkpoint(path, model, {"model": opt}, {"model": sched}, {"step": 12})
    expected = [sched.step_update(s) or opt.param_groups[0]["lr"] for s in range(13, 30)]

    opt2 = build_optimizer(train, model)
    sched2 = build_scheduler(train, opt2, 10)
    tensors, doc = ckpt.read_checkpoint(path)
    ckpt.restore(tensors, doc, model, {"model": opt2}, {"model": sched2}, path)
    assert [sched2.step_update(s) or opt2.param_groups[0]["lr"] for s in range(13, 30)] == expected
    assert len(set(expected)) > 1 or scheduler == "constant"


def test_a_schedule_that_does_not_fit_the_run_is_a_config_error():
    from zoo.errors import ConfigError

    train = TrainConfig(scheduler="wsd", epochs=3, decay_epochs=30)
    with pytest.raises(ConfigError, match=r"train.scheduler=wsd: wsd schedule requires"):
        build_scheduler(train, build_optimizer(train, zoo.create_model("lenet5")), 10)
