"""The adversarial task on real MNIST at tiny widths: every variant trains, and the rules of the game hold.

Sizes: 32 images per critic step, G and D a few thousand to a few ten-thousand parameters, so
that all variants together take a few hundred steps in well under a minute on two cores.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.engine.config import compose
from zoo.engine.distributed import Dist
from zoo.engine.trainer import Stepper, build_optimizer
from zoo.errors import ConfigError
from zoo.tasks import task_class
from zoo.tasks.adversarial import AdversarialTask
from zoo_plugins.gans.objectives.wasserstein_gp import gradient_penalty

GANS = zoo.list_models(task="adversarial")
TINY = {"gan": ["model.hidden=16"], "cgan": ["model.hidden=16"], "lsgan": ["model.hidden=16"]}


@pytest.fixture(scope="module")
def digits(mnist_home):
    from zoo.data import load_dataset

    ds = load_dataset("mnist", "train", root=mnist_home / "data")
    return {"images": ds.images[:4096], "labels": ds.labels[:4096]}


def setup(name: str, *sets: str, batch: int = 32, size: list[str] | None = None, data: str = "mnist"):
    """Model, task and stepper as the engine builds them, with `batch` images per critic step and tiny
    networks (`size`, default TINY's or width 8)."""
    d_steps = zoo.get_config(name).d_steps
    size = size or TINY.get(name, ["model.width=8"])
    config = compose(name, sets=[f"train.batch_size={batch * d_steps}", *size, *sets], data_name=data)
    spec = zoo.api.resolve(name)[0]
    torch.manual_seed(0)
    model = zoo.api.build(spec, zoo.api.config_for(spec, config.model.config))
    task = task_class(spec.entry.task)(model, config, torch.device("cpu"))
    modules = task.modules()
    optimizers = {n: build_optimizer(config.train, m, n) for n, m in modules.items()}
    model.train()
    return model, task, modules, Stepper(optimizers, modules, None, Dist())


def batches(digits, size: int, steps: int):
    for i in range(steps):
        start = (i * size) % (len(digits["images"]) - size)
        yield {k: v[start:start + size] for k, v in digits.items()}


@pytest.mark.parametrize("name", GANS)
def test_every_variant_trains_forty_d_steps_on_mnist_without_diverging(name, digits):
    model, task, modules, stepper = setup(name)
    before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    d_steps = task.game.d_steps
    for batch in batches(digits, 32 * d_steps, 40 // d_steps):  # critics: 8 G steps, 40 critic steps
        metrics = task.train_step(batch, modules, stepper)
        assert all(torch.isfinite(v) for v in metrics.values()), metrics
    assert list(metrics)[0] == "loss" and {"g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"} <= set(metrics)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(v, before[k]) for k, v in model.generator.state_dict().items())
    if model.zoo_config.objective.startswith("wasserstein"):
        assert "wasserstein" in metrics


def test_gradient_penalty_equals_the_hand_computed_value_for_a_linear_critic():
    class Linear(nn.Module):  # D(x) = <w, x>: its gradient is w at every point
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]]))

        def forward(self, x, labels=None):
            return (x * self.w).flatten(1).sum(1, keepdim=True), x.flatten(1)

    real, fake, critic = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2), Linear()
    penalty = gradient_penalty(lambda x: critic(x)[0], real, fake, weight=10.0)
    assert penalty.item() == pytest.approx(10.0 * (5.0 - 1.0) ** 2)  # ||w|| = 5 for every interpolate


def test_gradient_penalty_is_zero_for_a_unit_gradient_and_backpropagates_to_the_critic():
    w = nn.Parameter(torch.tensor([0.6, 0.8]))
    critic = lambda x: (x * w).sum(1, keepdim=True)  # noqa: E731
    penalty = gradient_penalty(critic, torch.randn(4, 2), torch.randn(4, 2), weight=10.0)
    assert penalty.item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        w.mul_(2.0)  # ||w|| = 2 now: penalty 10 * (2 - 1)^2, gradient 10 * 2 * (||w|| - 1) * w / ||w||
    penalty = gradient_penalty(critic, torch.randn(4, 2), torch.randn(4, 2), weight=10.0)
    penalty.backward()
    assert penalty.item() == pytest.approx(10.0)
    assert torch.allclose(w.grad, 20.0 * w.detach() / 2.0)


def test_weight_clipping_bounds_hold_after_every_critic_step(digits, monkeypatch):
    model, task, modules, stepper = setup("wgan")
    c = task.objective.clip_value
    assert c == 0.01 and max(p.abs().max() for p in model.discriminator.parameters()) > c  # N(0, 0.02) init exceeds c
    checked = []
    original = AdversarialTask.d_step

    def checked_step(self, *args):
        out = original(self, *args)
        checked.append(max(float(p.detach().abs().max()) for p in model.discriminator.parameters()))
        return out

    monkeypatch.setattr(AdversarialTask, "d_step", checked_step)
    for batch in batches(digits, 32 * 5, 6):
        task.train_step(batch, modules, stepper)
    assert len(checked) == 30 and max(checked) <= c


def test_a_generator_step_neither_updates_nor_accumulates_into_the_discriminator(digits):
    model, task, modules, stepper = setup("dcgan")
    batch = next(batches(digits, 32, 1))
    task.train_step(batch, modules, stepper)  # optimizer state exists, as mid-run
    d_before = {k: v.clone() for k, v in model.discriminator.named_parameters()}
    g_before = {k: v.clone() for k, v in model.generator.named_parameters()}
    for p in model.discriminator.parameters():
        p.grad = None
    real = task.prepare(batch["images"])
    task.g_step(modules["generator"], [(real, None)], stepper)
    assert all(torch.equal(p, d_before[k]) for k, p in model.discriminator.named_parameters())
    assert all(p.grad is None and p.requires_grad for p in model.discriminator.parameters())
    assert any(not torch.equal(p, g_before[k]) for k, p in model.generator.named_parameters())


def test_unrolled_discriminator_is_put_back_after_the_generator_step(digits):
    model, task, modules, stepper = setup("dcgan", "model.unrolled_steps=3")
    batch = next(batches(digits, 32, 1))
    task.train_step(batch, modules, stepper)
    d_before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    real = task.prepare(batch["images"])
    task.g_step(modules["generator"], [(real, None)], stepper)
    assert all(torch.equal(v, d_before[k]) for k, v in model.discriminator.state_dict().items())


@pytest.mark.parametrize("arch, size", [("dcgan", "model.width=8"), ("mlp", "model.hidden=16")])
def test_madgan_discriminator_learns_which_generator_made_a_sample(arch, size, digits):
    model, task, modules, stepper = setup("madgan", f"model.arch={arch}", size=[size])
    k = model.config.num_generators
    for batch in batches(digits, 32, 60):
        metrics = task.train_step(batch, modules, stepper)
    with torch.no_grad():  # fresh fakes, in train mode: batch-norm statistics of a batch, as D sees them in training
        which = torch.arange(256) % k
        logits, _ = model.discriminator(model.generator(torch.randn(256, model.latent_dim), which))
    accuracy = (logits[:, :k].argmax(1) == which).float().mean().item()
    assert accuracy > 0.8, f"identification accuracy {accuracy:.2f} (chance {1 / k:.2f}); last step {metrics}"


def test_madgan_generators_share_each_noise_vector_so_d_must_tell_them_apart_on_the_same_z():
    model, _, _, _ = setup("madgan", "model.num_generators=3", size=["model.width=8"])
    z, which = model.train_noise(10), model.fake_condition(10)
    assert which.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    for group in range(4):  # rows 3j .. 3j + 2 hold z_j, one row per generator
        rows = z[3 * group:3 * group + 3]
        assert all(torch.equal(row, rows[0]) for row in rows)
    assert len(set(map(tuple, z.tolist()))) == 4
    plain, _, _, _ = setup("dcgan")
    assert len(set(map(tuple, plain.train_noise(10).tolist()))) == 10  # one generator: every row its own z


def test_madgan_d_loss_is_the_mean_cross_entropy_over_a_real_batch_and_one_generated_batch_per_generator(digits):
    model, task, _, _ = setup("madgan", "model.arch=mlp", size=["model.hidden=16"])
    d, g, k = model.discriminator, model.generator, model.config.num_generators
    real = task.prepare(next(batches(digits, 32, 1))["images"])
    torch.manual_seed(5)
    loss, _ = task.d_loss(d, real, None)
    torch.manual_seed(5)
    with torch.no_grad():
        fake, which = g(model.train_noise(32), model.fake_condition(32)), model.fake_condition(32)
        # the authors' batch: 32 real images, then as many from each generator (each fake here stands k times)
        images = torch.cat([real, fake.repeat_interleave(k, 0)])
        targets = torch.cat([torch.full((32,), k), which.repeat_interleave(k)])
        expected = torch.nn.functional.cross_entropy(d(images, None)[0], targets)
    torch.testing.assert_close(loss.detach(), expected)


def test_madgan_without_identification_trains_every_generator_against_a_real_or_fake_discriminator(digits):
    model, task, modules, stepper = setup("madgan", "model.arch=mlp", "model.identify=false", size=["model.hidden=16"])
    k = model.config.num_generators
    assert (model.zoo_config.objective, k) == ("non_saturating", 4)
    heads = [{n: p.clone() for n, p in head.named_parameters()} for head in model.generator.heads]
    for batch in batches(digits, 32, 10):
        metrics = task.train_step(batch, modules, stepper)
    assert "identification" not in metrics and 0.0 < metrics["d_fake"] < 1.0
    assert model(torch.zeros(3, 1, 32, 32)).shape == (3, 1)
    for before, head in zip(heads, model.generator.heads):  # every generator is updated, not only the first
        assert all(not torch.equal(before[n], p) for n, p in head.named_parameters())


@pytest.mark.parametrize("arch, size", [("dcgan", {"width": 8}), ("mlp", {"hidden": 16})])
def test_madgan_sample_i_comes_from_generator_i_mod_k_or_the_one_asked_for(arch, size):
    torch.manual_seed(0)
    model = zoo.create_model("madgan", arch=arch, num_generators=3, **size).eval()
    g, z = model.generator, torch.randn(7, model.latent_dim)
    with torch.no_grad():
        shared = g.trunk(z, None) if arch == "dcgan" else g.trunk(z)
        alone = [torch.tanh(head(shared)).view(7, *model.sample(1).shape[1:]) for head in g.heads]  # every head, every row
        asked = torch.tensor([2, 2, 0, 1, 0, 2, 1])
        for which, rows in ((None, torch.arange(7) % 3), (asked, asked)):
            out = g(z, which)
            for i, head in enumerate(rows.tolist()):
                torch.testing.assert_close(out[i], alone[head][i])


@pytest.mark.parametrize("arch, size", [("dcgan", "model.width=8"), ("mlp", "model.hidden=16")])
def test_madgan_own_first_layer_projects_the_noise_per_generator_into_one_shared_network(arch, size, digits):
    model, task, modules, stepper = setup("madgan", f"model.arch={arch}", "model.own_layer=first",
                                          "model.num_generators=3", size=[size])
    g = model.generator
    inputs = g.project if arch == "dcgan" else g.inputs
    assert (len(inputs), len(g.heads)) == (3, 1)
    before = [{n: p.clone() for n, p in layer.named_parameters()} for layer in inputs]
    for batch in batches(digits, 32, 5):
        task.train_step(batch, modules, stepper)
    for old, layer in zip(before, inputs):  # every generator's own layer is trained
        assert all(not torch.equal(old[n], p) for n, p in layer.named_parameters())
    model.eval()
    z, asked = torch.randn(7, model.latent_dim), torch.tensor([2, 2, 0, 1, 0, 2, 1])
    with torch.no_grad():
        out = g(z, asked)
        for i, which in enumerate(asked.tolist()):  # row i: generator which's first layer, then the shared rest
            h = inputs[which](z[i:i + 1])
            if arch == "dcgan":
                alone = g.heads[0](g.body(h.view(1, g.top, g.base, g.base)))
            else:
                alone = g.heads[0](g.trunk(h)).view(1, *out.shape[1:])
            torch.testing.assert_close(out[i:i + 1], torch.tanh(alone))
        assert not torch.allclose(g(z[:1].expand(3, -1), torch.arange(3))[0], g(z[:1].expand(3, -1), torch.arange(3))[1])


@pytest.mark.parametrize("name", GANS)
def test_sampling_is_deterministic_under_a_seed_and_in_the_data_range(name):
    model = zoo.create_model(name, **({"hidden": 16} if name in TINY else {"width": 8})).eval()
    a = model.sample(6, generator=torch.Generator().manual_seed(3))
    b = model.sample(6, generator=torch.Generator().manual_seed(3))
    c = model.sample(6, generator=torch.Generator().manual_seed(4))
    assert a.shape == (6, 1, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    assert 0.0 <= a.min() and a.max() <= 1.0


def test_truncation_keeps_every_noise_value_within_the_bound():
    model = zoo.create_model("dcgan", width=8)
    z = model.noise(500, torch.Generator().manual_seed(0), truncation=0.5)
    assert z.abs().max() <= 0.5 and z.std() > 0.2


def test_cgan_sample_follows_the_label_and_refuses_one_outside_the_classes():
    model = zoo.create_model("cgan", hidden=16).eval()
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert not torch.equal(model.sample(4, gen(), condition=3), model.sample(4, gen(), condition=7))
    with pytest.raises(ConfigError, match="0..9"):
        model.sample(4, gen(), condition=10)
    with pytest.raises(ConfigError, match="unconditional"):
        zoo.create_model("dcgan", width=8).sample(4, condition=1)


def test_ema_generator_is_what_sample_uses_and_trails_the_generator(digits):
    model, task, modules, stepper = setup("dcgan", "model.ema=0.9")
    for batch in batches(digits, 32, 3):
        task.train_step(batch, modules, stepper)
    g, ema = model.generator.state_dict(), model.generator_ema.state_dict()
    assert any(not torch.equal(g[k], ema[k]) for k in g if g[k].is_floating_point())
    assert model.sampling_generator() is model.generator_ema


def test_discriminator_optimizer_takes_its_own_settings_from_train_optim():
    config = compose("wgan_gp", sets=["train.optim.discriminator.lr=3e-4", "train.optim.generator.betas=[0.5, 0.99]"])
    model = zoo.create_model("wgan_gp", width=8)
    d = build_optimizer(config.train, model.discriminator, "discriminator")
    g = build_optimizer(config.train, model.generator, "generator")
    assert type(d).__name__ == "Adam" and d.defaults["lr"] == 3e-4 and d.defaults["betas"] == (0.0, 0.9)
    assert g.defaults["lr"] == 1e-4 and g.defaults["betas"] == (0.5, 0.99)


def test_wgan_recipe_is_rmsprop_5e_5_and_five_critic_steps_per_batch():
    config = compose("wgan")
    assert (config.train.optimizer, config.train.lr, config.train.batch_size) == ("rmsprop", 5e-5, 320)
    assert config.model.config.d_steps == 5 and config.model.config.clip_value == 0.01


@pytest.mark.parametrize("name, assignment", [
    ("dcgan", "model.clip_value=0.01"),
    ("wgan_gp", "model.clip_value=0.01"),
    ("wgan", "model.gradient_penalty=10"),
    ("wgan_gp", "model.critic_norm=true"),
    ("wgan", "model.label_smoothing=0.1"),
    ("dcgan", "model.image_size=48"),
    ("madgan", "model.hidden=64"),
])
def test_an_option_that_does_not_apply_to_the_variant_is_a_config_error(name, assignment):
    with pytest.raises(ConfigError):
        compose(name, sets=[assignment])


def test_d_width_on_madgan_mlp_networks_is_a_config_error():
    with pytest.raises(ConfigError, match="d_width does not apply to arch=mlp"):
        compose("madgan", sets=["model.arch=mlp", "model.d_width=8"])


@pytest.mark.parametrize("name", ["dcgan", "wgan", "wgan_gp", "madgan"])
def test_d_width_sizes_the_discriminator_alone_and_defaults_to_width(name, digits):
    same, narrow = (zoo.create_model(name, width=16, **extra) for extra in ({}, {"d_width": 4}))
    first = [m for m in narrow.discriminator.modules() if isinstance(m, nn.Conv2d)][0]
    assert first.out_channels == 4
    assert [m for m in same.discriminator.modules() if isinstance(m, nn.Conv2d)][0].out_channels == 16
    assert {k: v.shape for k, v in narrow.generator.state_dict().items()} == \
        {k: v.shape for k, v in same.generator.state_dict().items()}
    model, task, modules, stepper = setup(name, "model.d_width=4", batch=16)
    for batch in batches(digits, 16 * task.game.d_steps, 2):
        metrics = task.train_step(batch, modules, stepper)
    assert all(torch.isfinite(v) for v in metrics.values())


def test_batch_that_does_not_split_into_critic_steps_is_a_config_error():
    config = compose("wgan", sets=["train.batch_size=64", "model.width=8"])
    model = zoo.create_model("wgan", width=8)
    with pytest.raises(ConfigError, match="d_steps=5"):
        AdversarialTask(model, config, torch.device("cpu"))


@pytest.mark.parametrize("name, arch", [("gan", []), ("madgan", ["model.arch=mlp"])])
def test_fully_connected_gans_take_one_pixel_images_so_they_learn_points(name, arch):
    model, task, modules, stepper = setup(name, "model.image_size=1", "model.in_chans=2", *arch,
                                          size=["model.hidden=16"], batch=64)
    points = torch.Generator().manual_seed(0)
    for _ in range(5):  # each image one pixel with two channels: a point in the plane
        images = torch.randint(256, (64, 2, 1, 1), generator=points, dtype=torch.uint8)
        metrics = task.train_step({"images": images, "labels": torch.zeros(64, dtype=torch.long)}, modules, stepper)
    assert all(torch.isfinite(v) for v in metrics.values())
    model.eval()
    assert model.sample(3).shape == (3, 2, 1, 1)
    with pytest.raises(ConfigError, match="sized for"):
        compose("dcgan", sets=["model.image_size=1"])


@pytest.mark.parametrize("image_size, in_chans", [(28, 1), (32, 3), (64, 3)])
def test_dcgan_is_sized_for_28_32_and_64_pixels_and_one_or_three_channels(image_size, in_chans, digits):
    model, task, modules, stepper = setup("dcgan", f"model.image_size={image_size}", f"model.in_chans={in_chans}",
                                          "model.width=4", batch=8)
    metrics = task.train_step(next(batches(digits, 8, 1)), modules, stepper)  # digits padded/resized, grey repeated
    assert all(torch.isfinite(v) for v in metrics.values())
    model.eval()
    assert model.sample(2).shape == (2, in_chans, image_size, image_size)


@pytest.mark.parametrize("name, remedy", [
    ("gan", "model.minibatch_features=8"),
    ("dcgan", "model.minibatch_features=8"),
    ("dcgan", "model.feature_matching=true"),
    ("gan", "model.unrolled_steps=3"),
    ("lsgan", "model.label_smoothing=0.1"),
    ("dcgan", "model.g_steps=2"),
    ("wgan_gp", "model.ema=0.99"),
])
def test_each_remedy_trains_with_the_variants_it_applies_to(name, remedy, digits):
    model, task, modules, stepper = setup(name, remedy, batch=16)
    before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    for batch in batches(digits, 16 * task.game.d_steps, 3):
        metrics = task.train_step(batch, modules, stepper)
        assert all(torch.isfinite(v) for v in metrics.values()), metrics
    assert any(not torch.equal(v, before[k]) for k, v in model.generator.state_dict().items())


def test_lenet_weights_given_for_evaluation_score_fid_and_coverage_off_mnist(digits):
    """On data other than MNIST, lenet5.mnist's digit classes mean nothing, so no coverage is logged;
    a LeNet-5 given by train.eval_extractor_weights (one trained on that data) gives FID and coverage."""
    from zoo.weights.safefile import sha256_file
    from zoo.weights.tags import find_tag, locate

    held_out = {"images": digits["images"][-200:], "labels": digits["labels"][-200:]}
    _, plain, _, _ = setup("dcgan", data="fashion-mnist")
    assert set(plain.evaluate(held_out)) == {"fid"}
    weights = locate(find_tag("lenet5.mnist"))
    _, given, _, _ = setup("dcgan", f"train.eval_extractor_weights={weights}", data="fashion-mnist")
    result = given.evaluate(held_out)
    assert {"fid", "modes", "kl_uniform", "confident"} <= set(result)
    assert sum(result[f"share_{c}"] for c in range(10)) == pytest.approx(1.0)
    assert given.extractor().weights_sha256 == sha256_file(weights / "model.safetensors")
    assert not given.extractor().own_weights


def test_unusable_eval_extractor_weights_fail_when_the_task_is_built(tmp_path):
    from zoo.metrics import ExtractorError

    with pytest.raises(ExtractorError, match="no such file"):
        setup("dcgan", f"train.eval_extractor_weights={tmp_path / 'absent'}")
    with pytest.raises(ConfigError, match="^train.eval_extractor_weights does not apply to ClassificationTask"):
        task_class("classification")(zoo.create_model("lenet5"), compose("lenet5", sets=[
            f"train.eval_extractor_weights={tmp_path}"], data_name="mnist"), torch.device("cpu"))
