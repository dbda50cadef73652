"""Registered classifiers take a training step through the engine on real MNIST, fitted to it as `zoo train` would.

Every model, except that the eleven VGG variants (one class, one head, differing only in
their conv table) are represented by the family's default member: building and stepping
all eleven took about 90 s of CI on two loaded cores, and the zoo.testing contract builds
and round-trips every one of them already.
"""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.engine.config import compose
from zoo.engine.distributed import Dist
from zoo.engine.trainer import Stepper, build_optimizer
from zoo.tasks import task_class

CLASSIFIERS = [m for m in zoo.list_models(task="classification")
               if zoo.model_info(m).family != "vgg" or m == zoo.api.resolve("vgg")[0].name]


@pytest.fixture(scope="module")
def digits(mnist_home):
    from zoo.data import load_dataset

    ds = load_dataset("mnist", "train", root=mnist_home / "data")
    return {"images": ds.images[:8], "labels": ds.labels[:8]}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_classifier_trains_a_step_and_evaluates_through_the_engine(name, digits, mnist_home, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    config = compose(name, sets=["train.batch_size=8", "train.lr=1e-3", "train.optimizer=sgd"])
    spec = zoo.api.resolve(name)[0]
    torch.manual_seed(0)
    model = zoo.api.build(spec, zoo.api.config_for(spec, config.model.config))
    task = task_class(spec.entry.task)(model, config, torch.device("cpu"))
    task.load_split("test", 1)  # sets the dataset's classes and statistics, as the engine does
    opt = build_optimizer(config.train, model)
    before = {k: v.clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    model.train()
    metrics = task.train_step(digits, {"model": model}, Stepper({"model": opt}, {"model": model}, None, Dist()))
    assert torch.isfinite(metrics["loss"]) and 0 <= float(metrics["accuracy"]) <= 1
    changed = [k for k, v in model.state_dict().items() if k in before and not torch.equal(v, before[k])]
    assert changed, f"{name}: no parameter moved after a step"
    model.eval()
    result = task.evaluate(digits)
    assert set(result) == {"loss", "accuracy"} and 0 <= result["accuracy"] <= 1
