"""Feature extractors as registry entries: manifest schema 2, listing, loading, bad weights."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError

from plugin_fixtures import manifest, model_entry, plugins  # noqa: F401  (fixture)
from zoo.errors import PluginError
from zoo.manifest import Manifest
from zoo.metrics import ExtractorError, list_extractors, load_extractor

FIXTURE_EXTRACTOR = '''
import torch
from zoo.metrics import FeatureExtractor


class MeanPixel(FeatureExtractor):
    num_features = 2
    num_classes = None

    def __init__(self, weights):
        super().__init__()
        self.weights = weights

    def outputs(self, images):
        x = images.float() / 255  # N x C x H x W
        return torch.stack([x.mean((1, 2, 3)), x.std((1, 2, 3))], 1), None


def mean_pixel(weights):
    return MeanPixel(weights)


def too_wide(weights):
    extractor = MeanPixel(weights)
    extractor.num_features = 3
    return extractor
'''


def extractor_entry(name: str, code: str, **extra: object) -> dict:
    return {"name": name, "summary": f"{name} for tests.", "code": code, "input_size": 28, "in_chans": 1,
            "num_features": 2, **extra}


def test_version_1_manifests_stay_valid_and_provide_no_extractors():
    doc = manifest("old", model_entry("m", "pkg"))
    assert Manifest.model_validate(doc).extractors == ()


def test_extractors_need_schema_version_2():
    doc = {**manifest("p", model_entry("m", "pkg")), "extractors": [extractor_entry("e", "pkg.x:f")]}
    with pytest.raises(ValidationError, match="extractors' needs schema_version: 2"):
        Manifest.model_validate(doc)
    assert Manifest.model_validate({**doc, "schema_version": 2}).extractors[0].name == "e"


def test_an_extractor_named_twice_is_rejected():
    entry = extractor_entry("e", "pkg.x:f")
    doc = {**manifest("p", model_entry("m", "pkg")), "schema_version": 2, "extractors": [entry, entry]}
    with pytest.raises(ValidationError, match="extractor names listed twice: e"):
        Manifest.model_validate(doc)


def test_builtin_extractors_are_listed_with_where_their_weights_come_from():
    rows = {r.name: r for r in list_extractors()}
    assert rows["lenet5_mnist"].weights == "lenet5.mnist"
    assert (rows["lenet5_mnist"].num_features, rows["lenet5_mnist"].num_classes) == (84, 10)
    assert rows["inception_v3"].weights == "user-supplied"
    assert (rows["inception_v3"].input_size, rows["inception_v3"].in_chans) == (299, 3)


def test_listing_extractors_does_not_import_torch():
    code = ("import sys; from zoo.metrics.extractors import list_extractors; "
            "print(len(list_extractors()) >= 2, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


def test_a_third_party_extractor_is_listed_and_loaded_through_its_manifest(plugins, tmp_path):  # noqa: F811
    doc = {**manifest("extra", model_entry("tinyx", "extrapkg")), "schema_version": 2,
           "extractors": [extractor_entry("mean_pixel", "extrapkg.tiny:mean_pixel")]}
    plugins.install("zoo-extra", "extrapkg", doc, module_source=FIXTURE_EXTRACTOR)
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"any bytes")
    assert "mean_pixel" in {r.name for r in list_extractors()}
    ext = load_extractor("extra:mean_pixel", weights)
    images = torch.zeros(3, 1, 28, 28, dtype=torch.uint8)
    images[1] = 255
    assert ext.embed(images).features[:, 0].tolist() == [0.0, 1.0, 0.0]
    assert len(ext.weights_sha256) == 64 and ext.name == "mean_pixel"


def test_a_text_encoder_is_not_loaded_as_an_image_feature_extractor(plugins):  # noqa: F811
    doc = {**manifest("words", model_entry("tinyt", "textpkg")), "schema_version": 2,
           "extractors": [extractor_entry("caption_encoder", "textpkg.tiny:mean_pixel", kind="text", weights=None)]}
    plugins.install("zoo-words", "textpkg", doc, module_source=FIXTURE_EXTRACTOR)
    assert {r.name: r.kind for r in list_extractors()}["caption_encoder"] == "text"
    with pytest.raises(ExtractorError, match="'caption_encoder' is of kind 'text'; this needs kind 'features'"):
        load_extractor("caption_encoder")


def test_an_extractor_whose_code_disagrees_with_its_manifest_is_a_plugin_error(plugins, tmp_path):  # noqa: F811
    doc = {**manifest("wide", model_entry("tinyw", "widepkg")), "schema_version": 2,
           "extractors": [extractor_entry("too_wide", "widepkg.tiny:too_wide")]}
    plugins.install("zoo-wide", "widepkg", doc, module_source=FIXTURE_EXTRACTOR)
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(PluginError, match="gives 3 features and None classes, its manifest says 2 and None"):
        load_extractor("too_wide", tmp_path / "w.bin")


def test_lenet_extractor_gives_f6_features_and_digit_probabilities_offline():
    ext = load_extractor("lenet5_mnist")
    images = torch.rand(5, 1, 28, 28)
    out = ext.embed(images)
    assert out.features.shape == (5, 84) and out.features.dtype == torch.float64
    assert out.probs.shape == (5, 10)
    assert torch.allclose(out.probs.sum(1), torch.ones(5, dtype=torch.float64))
    assert ext.weights_sha256 == "43f5f709d823f351ef8a4d8f572f75246477b6f1f8346c432c194d8fcab0c9cd"


def test_lenet_probabilities_are_the_classifier_softmax():
    """The extractor's probabilities are exactly what `zoo.load('lenet5.mnist')` predicts."""
    import zoo
    from zoo.data import prepare_batch

    ext = load_extractor("lenet5_mnist")
    images = (torch.rand(4, 1, 28, 28) * 255).to(torch.uint8)
    model = zoo.load("lenet5.mnist")
    with torch.no_grad():
        expected = model(prepare_batch(images, 32, 1, (0.1307,), (0.3081,))).double().softmax(1)
    assert torch.allclose(ext.embed(images).probs, expected, atol=1e-6)


def test_unknown_extractor_names_the_known_ones():
    with pytest.raises(ExtractorError, match="no extractor 'inception' .*inception_v3, lenet5_mnist"):
        load_extractor("inception")


def test_inception_without_user_weights_refuses_instead_of_downloading():
    with pytest.raises(ExtractorError, match="never downloads them; give a local file with --extractor-weights"):
        load_extractor("inception_v3")


def test_missing_and_corrupt_extractor_weights_are_one_line_errors(tmp_path):
    with pytest.raises(ExtractorError, match="no such file"):
        load_extractor("inception_v3", tmp_path / "absent.safetensors")
    for name in ("corrupt.safetensors", "corrupt.pth"):
        (tmp_path / name).write_bytes(b"\x00not weights at all" * 10)
        with pytest.raises(ExtractorError, match="cannot read weights|not a plain state dict"):
            load_extractor("inception_v3", tmp_path / name)


def test_weights_of_another_network_are_refused_by_inception(tmp_path):
    from safetensors.torch import save_file

    save_file({"conv.weight": torch.zeros(2, 2)}, tmp_path / "other.safetensors")
    with pytest.raises(ExtractorError, match="not Inception-v3 weights"):
        load_extractor("inception_v3", tmp_path / "other.safetensors")


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    """timm's Inception-v3 with RANDOM weights: the plumbing is tested, not the features' quality."""
    import timm
    from safetensors.torch import save_file

    model = timm.create_model("inception_v3", pretrained=False)
    path = tmp_path_factory.mktemp("inception") / "random_inception_v3.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    return path


def test_inception_on_random_weights_resizes_grey_digits_to_299_rgb(random_inception_weights, monkeypatch):
    """Random weights (never downloaded): checks shapes and preprocessing only, not feature quality."""
    ext = load_extractor("inception_v3", random_inception_weights)
    seen = []
    monkeypatch.setattr(ext.model, "forward_features",
                        lambda x, original=ext.model.forward_features: seen.append(x.shape) or original(x))
    out = ext.embed(torch.rand(2, 1, 28, 28))
    assert seen == [(2, 3, 299, 299)]
    assert out.features.shape == (2, 2048) and out.probs.shape == (2, 1000)
    assert ext.name == "inception_v3" and len(ext.weights_sha256) == 64
