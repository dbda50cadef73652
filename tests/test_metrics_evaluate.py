"""`zoo.metrics.evaluate` and the metrics on images: generators, caching, labels, and agreement with torchmetrics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.errors import ZooError
from zoo.metrics import METRICS, evaluate, fid, kid, load_extractor


class Noise(nn.Module):
    """A generator with the zoo's sampling surface: uniform noise images in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.brightness = nn.Parameter(torch.ones(1))

    def sample(self, n: int, generator: torch.Generator | None = None, condition: object = None) -> torch.Tensor:
        return (torch.rand(n, 1, 28, 28, generator=generator) * self.brightness).clamp(0, 1)


class Replay(nn.Module):
    """A generator that has memorised its training images and replays them in random order."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("images", images)

    def sample(self, n: int, generator: torch.Generator | None = None, condition: object = None) -> torch.Tensor:
        return self.images[torch.randperm(len(self.images), generator=generator)[:n]]


@pytest.fixture
def home(mnist_home, tmp_path, monkeypatch):
    """A fresh $ZOO_HOME (empty feature cache) that sees the session's MNIST files."""
    (tmp_path / "data").symlink_to(mnist_home / "data", target_is_directory=True)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def digits(mnist_home):
    from zoo.data import load_dataset

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_HOME", str(mnist_home))
        return load_dataset("mnist", split="test").images[:1000]


def test_evaluate_labels_every_result_with_its_extractor_and_comparability(digits):
    result = evaluate(digits[:300], digits[300:600])
    doc = result.to_dict()
    assert set(METRICS) <= set(doc)
    assert doc["extractor"]["name"] == "lenet5_mnist"
    assert "not with FIDs/KIDs on Inception-v3 features" in doc["extractor"]["note"]
    assert doc["n"] == 300 and set(doc["kid"]) == {"mean", "std"} and set(doc["one_nn"]) == {"accuracy", "real", "fake"}
    assert doc["is"]["mean"] > 8  # LeNet is confident on real digits, and they use all ten classes


def test_lenet_features_on_weights_the_user_gave_are_not_labelled_as_the_mnist_ones(digits):
    """The LeNet-5 extractor takes any ten-class LeNet-5 (one trained on Fashion-MNIST, say): its
    results say they compare only with the same weights, not with the lenet5.mnist ones."""
    from zoo.metrics.evaluation import LENET_NOTE, OTHER_NOTE
    from zoo.weights.tags import find_tag, locate

    given = load_extractor("lenet5_mnist", locate(find_tag("lenet5.mnist")))
    own = load_extractor("lenet5_mnist")
    assert given.weights_sha256 == own.weights_sha256 and not given.own_weights and own.own_weights
    notes = [evaluate(digits[:100], digits[100:200], metrics=["fid"], extractor=e).note for e in (given, own)]
    assert notes == [OTHER_NOTE, LENET_NOTE]


def test_a_memorising_generator_fools_fid_and_is_but_not_the_one_nn_test(digits):
    """The field's point about IS: it cannot see overfitting; 1-NN can."""
    train = digits[:400]
    result = evaluate(Replay(train), train, metrics=["fid", "is", "one_nn"], n=400)
    assert abs(result.scores["fid"]) < 1e-6
    assert result.scores["is"].mean > 8
    assert result.scores["one_nn"].accuracy == 0.0  # every copy's nearest neighbour is its original


def test_noise_is_told_apart_from_digits_by_every_two_sample_metric(digits):
    result = evaluate(Noise(), digits[:200], n=200, metrics=["fid", "kid", "one_nn", "precision", "recall"])
    same = evaluate(digits[200:400], digits[:200], metrics=["fid", "kid"])
    assert result.scores["fid"] > 20 * same.scores["fid"]  # FID of 200 vs 200 digits is biased upwards (~30)
    assert result.scores["kid"].mean > 50 * abs(same.scores["kid"].mean)
    assert result.scores["one_nn"].accuracy > 0.95
    assert result.scores["precision"] < 0.05


def test_the_seed_fixes_samples_reference_rows_and_subsets(digits):
    run = lambda seed: evaluate(Noise(), digits, n=100, seed=seed, metrics=["fid", "kid", "wasserstein"]).scores  # noqa: E731
    assert run(3) == run(3)
    assert run(3)["fid"] != run(4)["fid"]


def test_reference_features_are_cached_by_dataset_split_extractor_and_weights(home, monkeypatch):
    import zoo.data.loading

    first = evaluate(Noise(), "mnist:test", n=50, metrics=["fid", "one_nn"])
    sha = load_extractor().weights_sha256
    cached = home / "cache" / "metrics" / f"mnist-test-lenet5_mnist-{sha}.safetensors"
    assert cached.is_file()

    def no_reading(*args, **kwargs):
        raise AssertionError("the reference split was read again")

    monkeypatch.setattr(zoo.data.loading, "load_dataset", no_reading)
    assert evaluate(Noise(), "mnist:test", n=50, metrics=["fid", "one_nn"]).scores == first.scores


def test_progress_reports_each_stage_and_every_sample(digits):
    class Recorder:
        def __init__(self) -> None:
            self.stages: list[tuple[str, int | None]] = []
            self.done = 0

        def stage(self, name: str, total: int | None) -> None:
            self.stages.append((name, total))

        def advance(self, done: int) -> None:
            self.done += done

    recorder = Recorder()
    evaluate(Noise(), digits[:120], n=120, metrics=["fid", "precision", "recall"], progress=recorder)
    assert [s[0] for s in recorder.stages] == ["sampling 120 images", "features of the reference images", "metrics"]
    assert recorder.done == 120 + 120 + 2  # samples, reference images, two metric jobs (fid, precision/recall)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"metrics": "fid,sharpness"}, "unknown metric sharpness; allowed: fid, is"),
    ({"n": 0}, "n must be at least 2"),
    ({"extractor": "vgg_features"}, "no extractor 'vgg_features'"),
])
def test_bad_evaluate_arguments_are_zoo_errors(kwargs, message):
    with pytest.raises(ZooError, match=message):
        evaluate(Noise(), torch.rand(10, 1, 28, 28), **kwargs)


def test_a_generator_sampling_outside_the_data_range_is_refused_not_clipped():
    class Tanh(Noise):
        def sample(self, n, generator=None, condition=None):
            return super().sample(n, generator) * 2 - 1  # [-1, 1], a GAN's raw output

    with pytest.raises(ZooError, match=r"Tanh.sample\(\) returned values in \[-1, 1\]; generators must return"):
        evaluate(Tanh(), torch.rand(10, 1, 28, 28), n=10)


def test_a_module_without_sample_is_refused():
    with pytest.raises(ZooError, match="has no sample"):
        evaluate(nn.Linear(2, 2), torch.rand(10, 1, 28, 28), n=10)


def test_fid_and_kid_agree_with_torchmetrics_running_the_extractor_as_its_feature_module(digits):
    """torchmetrics calls the extractor on the images itself; the zoo extracts, then feeds rows."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    ext = load_extractor()
    real, fake = digits[:500], (digits[500:1000].float() / 255 + 0.1 * torch.rand(500, 1, 28, 28)).clamp(0, 1)
    reference_fid = FrechetInceptionDistance(feature=ext)
    reference_kid = KernelInceptionDistance(feature=ext, subsets=20, subset_size=200)
    for metric in (reference_fid, reference_kid):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    torch.manual_seed(7)
    kid_mean, kid_std = reference_kid.compute()
    assert fid(real, fake, extractor=ext) == pytest.approx(float(reference_fid.compute()), abs=1e-3)
    ours = kid(real, fake, extractor=ext, subsets=20, subset_size=200, seed=7)
    assert ours.mean == pytest.approx(float(kid_mean), abs=1e-3)
    assert ours.std == pytest.approx(float(kid_std), abs=1e-3)
