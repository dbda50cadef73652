"""Adversarial objectives as registered strategies: each built-in one's losses against hand-computed values,
the config checks (an unknown name, an option of another objective), and a third-party plugin's own objective
used by a built-in GAN's config."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import zoo
from cli_runner import run_zoo
from plugin_fixtures import plugins  # noqa: F401  (fixture)
from zoo.engine.config import compose
from zoo.errors import ConfigError
from zoo.objectives import Critique, Objective, load_objective
from zoo.registry import contribution_names

BUILT_IN = ["hinge", "identification", "least_squares", "minimax", "non_saturating", "relativistic_average",
            "wasserstein_clip", "wasserstein_gp"]
REAL, FAKE = torch.tensor([[2.0], [-1.0], [0.5]]), torch.tensor([[0.3], [-2.0], [1.5]])


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def critique(real_out=REAL, fake_out=FAKE, **extra) -> Critique:
    return Critique(real_out, fake_out, torch.zeros(len(real_out), 1), torch.zeros(len(fake_out), 1),
                    critic=lambda x: x.sum(1, keepdim=True), **extra)


def losses(name: str, **options) -> tuple[float, float, dict]:
    objective = load_objective(name)(**options)
    d, metrics = objective.d_loss(critique())
    g = objective.g_loss(FAKE, REAL if objective.g_uses_real else None)
    return float(d), float(g), {k: float(v) for k, v in metrics.items()}


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_every_built_in_objective_is_registered_and_is_an_objective_class():
    assert [n for n in contribution_names("objectives") if n in BUILT_IN] == BUILT_IN
    for name in BUILT_IN:
        assert issubclass(load_objective(name), Objective)


def test_log_loss_d_is_the_cross_entropy_of_real_and_fake_and_g_is_non_saturating_or_minimax():
    r, f = REAL.flatten().tolist(), FAKE.flatten().tolist()
    d, g, metrics = losses("non_saturating")
    assert d == pytest.approx(mean(-math.log(sig(x)) for x in r) + mean(-math.log(1 - sig(x)) for x in f), rel=1e-6)
    assert g == pytest.approx(mean(-math.log(sig(x)) for x in f), rel=1e-6)
    assert metrics["d_real"] == pytest.approx(mean(map(sig, r)), rel=1e-6)
    d_mm, g_mm, _ = losses("minimax")
    assert d_mm == pytest.approx(d) and g_mm == pytest.approx(mean(math.log(1 - sig(x)) for x in f), rel=1e-6)
    smoothed, _, _ = losses("non_saturating", label_smoothing=0.1)  # one-sided: the real target is 0.9
    by_hand = mean(-(0.9 * math.log(sig(x)) + 0.1 * math.log(1 - sig(x))) for x in r)
    assert smoothed == pytest.approx(by_hand + mean(-math.log(1 - sig(x)) for x in f), rel=1e-6)


def test_least_squares_is_half_the_squared_distance_to_the_0_1_coding():
    r, f = REAL.flatten().tolist(), FAKE.flatten().tolist()
    d, g, metrics = losses("least_squares")
    assert d == pytest.approx(0.5 * mean((x - 1) ** 2 for x in r) + 0.5 * mean(x ** 2 for x in f), rel=1e-6)
    assert g == pytest.approx(0.5 * mean((x - 1) ** 2 for x in f), rel=1e-6)
    assert metrics["d_fake"] == pytest.approx(mean(f), rel=1e-6)


def test_hinge_d_pays_only_inside_the_margin_and_g_raises_d_on_its_fakes():
    r, f = REAL.flatten().tolist(), FAKE.flatten().tolist()
    d, g, _ = losses("hinge")
    assert d == pytest.approx(mean(max(0, 1 - x) for x in r) + mean(max(0, 1 + x) for x in f), rel=1e-6)
    assert g == pytest.approx(-mean(f), rel=1e-6)
    separated = load_objective("hinge")().d_loss(critique(torch.tensor([[1.5], [3.0]]), torch.tensor([[-1.0], [-4.0]])))
    assert float(separated[0]) == 0.0  # every real above 1, every fake below -1: nothing to learn


def test_relativistic_average_compares_each_side_with_the_other_sides_mean():
    r, f = REAL.flatten().tolist(), FAKE.flatten().tolist()
    d, g, metrics = losses("relativistic_average")
    assert d == pytest.approx(mean(-math.log(sig(x - mean(f))) for x in r)
                              + mean(-math.log(1 - sig(x - mean(r))) for x in f), rel=1e-6)
    assert g == pytest.approx(mean(-math.log(sig(x - mean(r))) for x in f)
                              + mean(-math.log(1 - sig(x - mean(f))) for x in r), rel=1e-6)
    assert metrics["d_real"] == pytest.approx(mean(sig(x - mean(f)) for x in r), rel=1e-6)
    objective = load_objective("relativistic_average")()
    assert objective.g_uses_real  # G's loss moves with D's verdict on real images
    assert float(objective.g_loss(FAKE, REAL + 1.0)) != pytest.approx(g)


def test_wasserstein_critics_estimate_the_distance_and_constrain_the_critic():
    d, g, metrics = losses("wasserstein_clip")
    assert d == pytest.approx(float(FAKE.mean() - REAL.mean())) and g == pytest.approx(-float(FAKE.mean()))
    assert metrics["wasserstein"] == pytest.approx(-d)
    critic = nn.Linear(4, 1)
    nn.init.constant_(critic.weight, 0.5)
    load_objective("wasserstein_clip")(clip_value=0.01).after_d_step(critic)
    assert float(critic.weight.detach().abs().max()) == pytest.approx(0.01)
    # the penalty's critic here is D(x) = x (gradient 1 everywhere): no penalty, so the loss is the critic loss
    d_gp, _, metrics_gp = losses("wasserstein_gp")
    assert d_gp == pytest.approx(d) and metrics_gp["gradient_penalty"] == 0.0


def test_identification_is_the_mean_cross_entropy_of_k_generators_and_real():
    real_out = torch.tensor([[0.1, 0.2, 2.0], [0.0, 1.0, 0.5]])  # k = 2: classes "generator 0", "generator 1", "real"
    fake_out = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.1, 0.3]])
    which = torch.tensor([0, 1])
    objective = load_objective("identification")()
    loss, metrics = objective.d_loss(critique(real_out, fake_out, fake_condition=which))
    ce = torch.nn.functional.cross_entropy
    expected = (ce(real_out, torch.tensor([2, 2])) + 2 * ce(fake_out, which)) / 3
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    assert float(metrics["identification"]) == 0.5  # D names row 0's generator, not row 1's
    assert float(objective.g_loss(fake_out)) == pytest.approx(float(ce(fake_out, torch.tensor([2, 2]))), rel=1e-6)


def test_unknown_objective_is_refused_naming_the_known_ones(capsys):
    r = run_zoo(capsys, "train", "dcgan", "--set", "model.objective=hinje", "--dry-run")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert "unknown objective 'hinje'" in r.err and "did you mean: hinge" in r.err
    assert all(name in r.err for name in BUILT_IN)


@pytest.mark.parametrize("name, sets, message", [
    ("dcgan", ["model.objective=hinge", "model.label_smoothing=0.1"], "label_smoothing does not apply to objective=h"),
    ("dcgan", ["model.objective=identification"], "several generators"),
    ("dcgan", ["model.clip_value=0.01"], "unknown field 'clip_value'"),
    ("wgan", ["model.objective=hinge"], "does not apply to objective=hinge"),
    ("madgan", ["model.objective=hinge"], "does not go with identify=true"),
    ("madgan", ["model.identify=false", "model.objective=identification"], "does not go with identify=false"),
    ("gan_cls", ["model.objective=hinge", "model.text_encoder=char_cnn"], "a matching-aware discriminator needs"),
])
def test_an_objective_the_model_cannot_use_or_an_option_it_does_not_take_is_a_config_error(name, sets, message):
    with pytest.raises(ConfigError, match=message):
        compose(name, sets=sets)


def test_each_variant_keeps_the_objective_it_trained_with_and_old_configs_name_it_loss():
    chosen = {name: compose(name).model.config for name in ("gan", "cgan", "lsgan", "dcgan", "wgan", "wgan_gp",
                                                            "madgan", "gan_cls")}
    objectives = {name: (c["objective"] if isinstance(c, dict) else c.objective) for name, c in chosen.items()}
    assert objectives == {"gan": "non_saturating", "cgan": "non_saturating", "lsgan": "least_squares",
                          "dcgan": "non_saturating", "wgan": "wasserstein_clip", "wgan_gp": "wasserstein_gp",
                          "madgan": "identification", "gan_cls": "non_saturating"}
    assert zoo.load("dcgan.mnist").zoo_config.objective == "non_saturating"  # its config.json says loss: non_saturating
    assert zoo.create_model("dcgan", loss="minimax", width=8).zoo_config.objective == "minimax"
    with pytest.raises(ConfigError, match="loss is the former name of objective"):
        zoo.create_model("lsgan", loss="minimax", hidden=16)  # its variant sets objective=least_squares


def noise_digits(n: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"images": torch.randint(256, (n, 1, 28, 28), generator=g, dtype=torch.uint8),
            "labels": torch.randint(10, (n,), generator=g)}


@pytest.mark.parametrize("objective", ["hinge", "relativistic_average", "minimax", "wasserstein_gp"])
def test_dcgan_trains_with_any_registered_objective(objective):
    from test_gans_training import batches, setup

    digits = noise_digits(64)
    model, task, modules, stepper = setup("dcgan", f"model.objective={objective}", batch=16)
    before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    for batch in batches(digits, 16, 4):
        metrics = task.train_step(batch, modules, stepper)
        assert all(torch.isfinite(v) for v in metrics.values()), metrics
    assert type(task.objective).__name__ == type(load_objective(objective)()).__name__
    assert any(not torch.equal(v, before[k]) for k, v in model.generator.state_dict().items())


ABSOLUTE = '''
import torch
from zoo.objectives import Critique, Objective


class Absolute(Objective):
    """A plugin's own objective: D drives its output to 1 on real images and to 0 on fakes in absolute value."""

    def d_loss(self, critique: Critique):
        loss = (critique.real_out - 1).abs().mean() + critique.fake_out.abs().mean()
        return loss, {"d_real": critique.real_out.mean().detach(), "d_fake": critique.fake_out.mean().detach(),
                      "absolute_loss": loss.detach()}

    def g_loss(self, fake_out, real_out=None):
        return (fake_out - 1).abs().mean()


class NotAnObjective:
    pass
'''


def test_a_plugin_brings_its_own_objective_and_a_built_in_gan_trains_with_it(plugins):  # noqa: F811
    manifest = {"schema_version": 3, "plugin": {"name": "losses", "version": "0.1"}, "models": [],
                "objectives": [{"name": "absolute", "summary": "L1 to the 0-1 coding.",
                                "code": "zoo_losses.tiny:Absolute"},
                               {"name": "broken", "summary": "Not an objective.",
                                "code": "zoo_losses.tiny:NotAnObjective"}]}
    plugins.install("zoo-losses", "zoo_losses", manifest, module_source=ABSOLUTE)
    assert {"absolute", "broken"} <= set(contribution_names("objectives"))
    from test_gans_training import setup

    model, task, modules, stepper = setup("dcgan", "model.objective=absolute", batch=8)
    metrics = task.train_step(noise_digits(8), modules, stepper)
    assert "absolute_loss" in metrics and float(metrics["loss"]) == float(metrics["absolute_loss"])
    with pytest.raises(ConfigError, match="objective 'broken'.*is not a subclass of zoo.objectives.Objective"):
        compose("dcgan", sets=["model.objective=broken"])
