"""`zoo eval` on a generator, through the real `zoo` entry function.

A fixture plugin provides the generator, a tiny module with the generators' `sample(n,
generator=None, condition=None)`, and its own task (manifest schema v3), whose `zoo eval` is the
generic sample metrics (`Task.sample_metrics`): what a third-party generative task reuses.
"""

from __future__ import annotations

import json

import pytest

from cli_runner import run_zoo
from plugin_fixtures import manifest, model_entry, plugins  # noqa: F401  (fixture)

GENERATOR = '''
import torch
from pydantic import Field
from torch import nn
from zoo.config import ImageClassifierConfig
from zoo.tasks.base import Task
from zoo.tasks.options import GeneratorEvalOptions


class SquaresConfig(ImageClassifierConfig):
    image_size: int = Field(28, ge=8, description="Side of the images drawn.")


class Squares(nn.Module):
    """Draws one bright 8 x 8 square at a random place on a black 28 x 28 image."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.brightness = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x.flatten(1)[:, :10]

    def sample(self, n, generator=None, condition=None):
        images = torch.zeros(n, 1, 28, 28)
        corners = torch.randint(0, 20, (n, 2), generator=generator)
        for image, (r, c) in zip(images, corners.tolist()):
            image[:, r:r + 8, c:c + 8] = self.brightness.clamp(0, 1)
        return images


class DrawingTask(Task):
    EvalOptions = GeneratorEvalOptions

    def report(self, options, progress=None):
        return self.sample_metrics(options, progress)
'''


@pytest.fixture
def bundle(plugins, mnist_home, tmp_path, monkeypatch):  # noqa: F811
    import zoo

    entry = model_entry("squares", "sqpkg", family="squares", input_size=28, task="drawing",
                        config="sqpkg.tiny:SquaresConfig", builder="sqpkg.tiny:Squares")
    doc = {**manifest("squares", entry), "schema_version": 3,
           "tasks": [{"name": "drawing", "summary": "Draws images.", "code": "sqpkg.tiny:DrawingTask"}]}
    plugins.install("zoo-squares", "sqpkg", doc, module_source=GENERATOR)
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    return zoo.save_pretrained(zoo.create_model("squares"), tmp_path / "squares-bundle", data="mnist")


def test_eval_prints_one_json_object_with_every_metric_and_the_extractor(bundle, capsys):
    r = run_zoo(capsys, "eval", "squares", "--weights", str(bundle), "--n", "200", "--seed", "1", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert {"fid", "is", "mode_score", "kid", "mmd", "one_nn", "wasserstein", "precision", "recall"} <= set(doc)
    assert doc["extractor"]["name"] == "lenet5_mnist" and doc["reference"] == "mnist:test" and doc["n"] == 200
    assert doc["one_nn"]["accuracy"] > 0.95  # squares are not digits
    assert doc["fid"] > 100


def test_eval_json_equals_the_python_api_for_the_same_seed(bundle, capsys):
    import zoo
    from zoo.metrics import evaluate

    r = run_zoo(capsys, "eval", "--weights", str(bundle), "--n", "100", "--seed", "5", "--metrics", "fid,kid,one_nn",
                "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    expected = evaluate(zoo.from_pretrained(bundle), "mnist:test", n=100, seed=5, metrics="fid,kid,one_nn").to_dict()
    assert {k: doc[k] for k in ("fid", "kid", "one_nn")} == {k: expected[k] for k in ("fid", "kid", "one_nn")}
    assert "mmd" not in doc


def test_eval_table_names_the_extractor_and_why_the_numbers_are_not_inception_fids(bundle, capsys):
    r = run_zoo(capsys, "eval", "--weights", str(bundle), "--n", "50", "--metrics", "fid,precision,recall")
    assert r.code == 0, r.err
    assert "precision" in r.out and "recall" in r.out
    assert "extractor lenet5_mnist" in r.out and "not with FIDs/KIDs on Inception-v3 features" in r.out


@pytest.mark.parametrize(("args", "message"), [
    (["--metrics", "fid,sharpness"], "unknown metric sharpness"),
    (["--extractor", "nope"], "no extractor 'nope'"),
    (["--n", "0"], "--n: Input should be greater than or equal to 1 (got '0')"),
    (["--n", "1"], "n must be at least 2"),
    (["--iw-samples", "5"], "option --iw-samples does not apply to squares:squares (task drawing)"),
    (["--extractor", "inception_v3"], "no weights of its own and the zoo never downloads them"),
    (["--extractor", "inception_v3", "--extractor-weights", "absent.safetensors"], "no such file"),
    (["--extractor", "inception_v3", "--extractor-weights", "{corrupt}"], "cannot read weights"),
])
def test_bad_eval_input_is_one_line_and_exit_2(bundle, tmp_path, capsys, args, message):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00 not a safetensors file")
    args = [a.replace("{corrupt}", str(corrupt)) for a in args]
    r = run_zoo(capsys, "eval", "--weights", str(bundle), *args)
    assert r.code == 2
    assert message in r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
