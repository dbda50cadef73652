"""Weights bundles: what a bundle holds, round trips, strict loading, adapt_head, config
checks, pretrained tags with sha256, hf:// through a pre-populated Hugging Face cache, and
conversion of foreign checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_runner import run_zoo
from plugin_fixtures import plugins  # noqa: F401  (fixture)
from safetensors import safe_open
from safetensors.torch import save_file
from test_weights_support import wt  # noqa: F401  (fixture)

import zoo
from zoo.weights import NonFiniteWeightsWarning, WeightsError
from zoo.weights.card import config_hash


def _lenet(seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return zoo.create_model("lenet5", **overrides).eval()


def _same_tensors(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------- the bundle


def test_bundle_holds_config_weights_and_model_card(tmp_path):
    model = _lenet()
    bundle = zoo.save_pretrained(model, tmp_path / "b", tag="mnist", data="MNIST train (50k)",
                                 metrics={"accuracy": 0.9912}, command="zoo train lenet5 --data mnist",
                                 license="MIT", preprocessing={"value_range": (0, 1), "class_names": list("0123456789")})
    assert sorted(p.name for p in bundle.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    doc = json.loads((bundle / "config.json").read_text())
    assert (doc["plugin"], doc["model"], doc["tag"], doc["zoo_version"]) == ("zoo", "lenet5", "mnist", zoo.__version__)
    assert doc["config"] == model.zoo_config.model_dump(mode="json")
    assert doc["config_hash"] == config_hash(doc["config"])
    assert doc["preprocessing"]["input_size"] == [32, 32] and doc["preprocessing"]["in_chans"] == 1
    assert doc["preprocessing"]["class_names"][7] == "7" and doc["preprocessing"]["value_range"] == [0, 1]
    with safe_open(bundle / "model.safetensors", "pt") as f:
        meta = f.metadata()
        assert set(f.keys()) == set(model.state_dict())
    assert meta["zoo_model"] == "zoo:lenet5" and meta["zoo_config_hash"] == doc["config_hash"]
    card = (bundle / "README.md").read_text()
    for text in ("# lenet5.mnist", "zoo train lenet5 --data mnist", "| accuracy | 0.9912 |", "MNIST train", "MIT",
                 'zoo.load("lenet5.mnist")'):
        assert text in card


def test_from_pretrained_rebuilds_the_config_and_gives_identical_outputs(tmp_path):
    model = _lenet(1, dropout=0.25)
    bundle = zoo.save_pretrained(model, tmp_path / "b")
    again = zoo.from_pretrained(bundle)
    assert again.zoo_config == model.zoo_config and not again.training
    x = torch.randn(4, 1, 32, 32)
    assert torch.equal(again(x), model(x))


def test_save_refuses_to_replace_a_bundle_unless_asked_and_keeps_the_old_one(tmp_path):
    first = zoo.save_pretrained(_lenet(1), tmp_path / "b")
    before = (first / "model.safetensors").read_bytes()
    with pytest.raises(WeightsError, match="already exists"):
        zoo.save_pretrained(_lenet(2), tmp_path / "b")
    assert (first / "model.safetensors").read_bytes() == before
    zoo.save_pretrained(_lenet(2), tmp_path / "b", overwrite=True)
    assert (first / "model.safetensors").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no temp or old directories left behind


def test_save_unwraps_data_parallel_and_compiled_modules(tmp_path):
    model = _lenet(3)
    for i, wrapped in enumerate((torch.nn.DataParallel(model), torch.compile(model))):
        bundle = zoo.save_pretrained(wrapped, tmp_path / f"b{i}")
        with safe_open(bundle / "model.safetensors", "pt") as f:
            assert sorted(f.keys()) == sorted(model.state_dict())  # no "module." / "_orig_mod." prefixes
        assert _same_tensors(zoo.from_pretrained(bundle), model)


def test_model_not_built_by_the_zoo_cannot_be_saved(tmp_path):
    with pytest.raises(WeightsError, match="not built by zoo.create_model"):
        zoo.save_pretrained(torch.nn.Linear(2, 2), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_tied_weights_are_stored_once_and_reload_tied(wt, tmp_path):
    model = zoo.create_model("tied")
    bundle = zoo.save_pretrained(model, tmp_path / "b")
    with safe_open(bundle / "model.safetensors", "pt") as f:
        assert list(f.keys()) == ["encoder.weight"]
        assert json.loads(f.metadata()["zoo_aliases"]) == {"decoder.weight": "encoder.weight"}
    again = zoo.from_pretrained(bundle)
    assert again.decoder.weight is again.encoder.weight
    assert torch.equal(again.encoder.weight, model.encoder.weight)


def test_multi_module_model_keeps_generator_and_discriminator_prefixes(wt, tmp_path):
    model = zoo.create_model("pair")
    bundle = zoo.save_pretrained(model, tmp_path / "b")
    with safe_open(bundle / "model.safetensors", "pt") as f:
        prefixes = {k.split(".")[0] for k in f.keys()}
    assert prefixes == {"generator", "discriminator"}
    assert _same_tensors(zoo.from_pretrained(bundle), model)


# ---------------------------------------------------------------- strict loading


def test_strict_loading_lists_missing_unexpected_and_mismatched_tensors_by_name(tmp_path):
    state = {k: v.clone() for k, v in _lenet().state_dict().items()}
    del state["features.0.bias"]
    state["extra.weight"] = torch.zeros(3)
    state["classifier.4.weight"] = torch.zeros(7, 120)
    save_file(state, str(tmp_path / "w.safetensors"))
    target = _lenet(5)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(WeightsError) as err:
        zoo.load_weights(target, tmp_path / "w.safetensors")
    message = str(err.value)
    assert "missing features.0.bias" in message and "unexpected extra.weight" in message
    assert "classifier.4.weight (weights [7, 120] vs model [84, 120])" in message
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items()), "a refused load changed the model"


def test_non_strict_loading_still_refuses_shape_mismatches(tmp_path):
    state = {k: v for k, v in _lenet(1).state_dict().items() if not k.startswith("classifier.6")}
    save_file(state, str(tmp_path / "partial.safetensors"))
    target = zoo.load_weights(_lenet(2), tmp_path / "partial.safetensors", strict=False)
    assert torch.equal(target.features[0].weight, state["features.0.weight"])


def test_adapt_head_reinitialises_only_the_classifier_head(tmp_path):
    source = _lenet(1)
    bundle = zoo.save_pretrained(source, tmp_path / "b")
    with pytest.raises(WeightsError, match=r"classifier\.6\.weight .*adapt_head=True"):
        zoo.from_pretrained(bundle, num_classes=5)
    adapted = zoo.from_pretrained(bundle, num_classes=5, adapt_head=True)
    assert adapted(torch.randn(2, 1, 32, 32)).shape == (2, 5)
    src, new = source.state_dict(), adapted.state_dict()
    kept = [k for k in src if src[k].shape == new[k].shape]
    assert set(src) - set(kept) == {"classifier.6.weight", "classifier.6.bias"}
    assert all(torch.equal(src[k], new[k]) for k in kept)


def test_adapt_head_does_not_excuse_other_mismatches(tmp_path):
    bundle = zoo.save_pretrained(_lenet(1), tmp_path / "b")
    with pytest.raises(WeightsError, match=r"shape mismatch classifier\.1\.weight \(weights \[120, 400\] vs model \[120, 576\]\)"):
        zoo.from_pretrained(bundle, image_size=36, adapt_head=True)


def test_loading_into_a_model_with_another_config_is_refused_unless_asked(tmp_path):
    bundle = zoo.save_pretrained(_lenet(1), tmp_path / "b")
    other = _lenet(2, dropout=0.5)
    with pytest.raises(WeightsError, match=r"different zoo:lenet5 config \(differs in: dropout\)"):
        zoo.load_weights(other, bundle)
    zoo.load_weights(other, bundle, allow_config_mismatch=True)
    assert torch.equal(other.features[0].weight, _lenet(1).features[0].weight)


def test_bundle_of_another_model_is_refused(wt, tmp_path):
    bundle = zoo.save_pretrained(_lenet(1), tmp_path / "b")
    with pytest.raises(WeightsError, match="holds weights of zoo:lenet5, not wt:tiny"):
        zoo.load_weights(zoo.create_model("tiny"), bundle)


def test_nan_weights_load_with_a_warning(tmp_path):
    model = _lenet(1)
    with torch.no_grad():
        model.features[0].weight.fill_(float("nan"))
    bundle = zoo.save_pretrained(model, tmp_path / "b")
    with pytest.warns(NonFiniteWeightsWarning, match=r"features\.0\.weight \(150 of 150 values\)"):
        zoo.from_pretrained(bundle)


# ---------------------------------------------------------------- pretrained tags


def test_pretrained_tag_loads_offline_with_its_sha256_checked(wt):
    torch.manual_seed(4)
    model = zoo.create_model("tiny").eval()
    wt.add_tag(model, "demo")
    loaded = zoo.load("tiny.demo")
    assert _same_tensors(loaded, model) and loaded.zoo_bundle.tag == "demo"
    assert _same_tensors(zoo.create_model("tiny", pretrained=True), model)  # first tag is the default
    assert _same_tensors(zoo.create_model("wt:tiny.demo", pretrained=True), model)
    assert zoo.list_models("tiny*", pretrained=True) == ["tiny.demo"]


def test_pretrained_tag_whose_bytes_changed_is_refused(wt):
    bundle = wt.add_tag(zoo.create_model("tiny"), "demo")
    data = bytearray((bundle / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last weight: still a valid file, not the declared one
    (bundle / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="tiny.demo: sha256 mismatch"):
        zoo.load("tiny.demo")


def test_pretrained_tag_pointing_at_another_models_bundle_is_refused(wt):
    wt.add_tag(zoo.create_model("tiny"), "demo", declared_model="tiny_wide")
    with pytest.raises(WeightsError, match="holds weights of wt:tiny, not wt:tiny_wide"):
        zoo.load("tiny_wide.demo")


def test_unknown_tag_names_the_available_ones(wt):
    wt.add_tag(zoo.create_model("tiny"), "demo")
    with pytest.raises(zoo.ZooError, match="no pretrained tag 'imagenet' for tiny; it has: tiny.demo"):
        zoo.load("tiny.imagenet")
    with pytest.raises(zoo.ZooError, match="wt:tied has no pretrained weights"):
        zoo.load("tied")


def test_weights_list_and_verify_cover_every_tag(wt, capsys):
    wt.add_tag(zoo.create_model("tiny"), "demo")
    listed = run_zoo(capsys, "weights", "list", "--json")
    rows = {r["tag"]: r for r in json.loads(listed.out)}
    assert rows["tiny.demo"]["metrics"] == {"accuracy": 0.5} and len(rows["tiny.demo"]["sha256"]) == 64
    assert rows["tiny.demo"]["size"] == (wt.root / "weights/tiny.demo/model.safetensors").stat().st_size
    verified = run_zoo(capsys, "weights", "verify")
    assert verified.code == 0 and "ok     tiny.demo" in verified.out
    (wt.root / "weights/tiny.demo/model.safetensors").write_bytes(b"\0" * 8)
    failed = run_zoo(capsys, "weights", "verify", "tiny.demo")
    assert failed.code == 2 and "FAILED tiny.demo" in failed.err and "1 of 1 failed verification" in failed.err


def test_import_zoo_and_weights_list_do_not_import_torch():
    code = ("import sys\nfrom zoo.cli import main\ntry:\n    main(['weights', 'list'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("NO-TORCH")


# ---------------------------------------------------------------- hf:// through the Hugging Face cache


def _populate_hf_cache(cache: Path, repo: str, bundle: Path, commit: str) -> None:
    """The hub cache layout (models--org--name/{blobs,snapshots/<commit>,refs/main}), as huggingface_hub writes it."""
    import hashlib

    storage = cache / f"models--{repo.replace('/', '--')}"
    snapshot = storage / "snapshots" / commit
    (storage / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for f in bundle.iterdir():
        data = f.read_bytes()
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(commit)


def test_hf_urls_and_hf_tags_load_offline_from_a_prepopulated_hub_cache(wt, tmp_path):
    from huggingface_hub import scan_cache_dir

    from zoo.weights.safefile import sha256_file

    lenet, tiny = _lenet(7), zoo.create_model("tiny")
    cache = tmp_path / "hf-cache"
    commit = "0123456789abcdef0123456789abcdef01234567"
    _populate_hf_cache(cache, "zoo-org/lenet5-mnist", zoo.save_pretrained(lenet, tmp_path / "lenet"), commit)
    tiny_bundle = zoo.save_pretrained(tiny, tmp_path / "tiny")
    _populate_hf_cache(cache, "zoo-org/tiny-demo", tiny_bundle, "89abcdef0123456789abcdef0123456789abcdef")
    assert sorted(r.repo_id for r in scan_cache_dir(cache).repos) == ["zoo-org/lenet5-mnist", "zoo-org/tiny-demo"]
    # Manifest tags pointing at the Hub: one with the true sha256, one whose declared sha256 is wrong.
    hub_tag = {"url": "hf://zoo-org/tiny-demo@main", "sha256": sha256_file(tiny_bundle / "model.safetensors")}
    wt.declare("tiny", {"tag": "hub", **hub_tag})
    wt.declare("tiny", {"tag": "tampered", **hub_tag, "sha256": "0" * 64})

    torch.save(lenet(torch.ones(2, 1, 32, 32)).detach(), tmp_path / "expected.pt")
    script = (
        "import sys, torch, zoo\n"
        "want = torch.load(sys.argv[1], weights_only=True)\n"
        "for src in ('hf://zoo-org/lenet5-mnist', 'hf://zoo-org/lenet5-mnist@main', 'hf://zoo-org/lenet5-mnist@' + sys.argv[2]):\n"
        "    assert torch.equal(zoo.load(src)(torch.ones(2, 1, 32, 32)), want), src\n"
        "print(zoo.load('tiny.hub').zoo_name)\n"
        "for bad in ('hf://zoo-org/absent', 'tiny.tampered'):\n"
        "    try:\n        zoo.load(bad)\n    except zoo.ZooError as err:\n        print(err)\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(wt.site)}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "expected.pt"), commit],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "wt:tiny"
    assert lines[1].startswith("hf://zoo-org/absent: not in the Hugging Face cache")
    assert lines[2].startswith("tiny.tampered: sha256 mismatch")


def test_malformed_hf_url_is_one_clear_error():
    with pytest.raises(WeightsError, match="expected hf://org/repo or hf://org/repo@revision"):
        zoo.load("hf://just-a-name")


# ---------------------------------------------------------------- foreign checkpoints


def test_foreign_checkpoint_converts_to_a_bundle(tmp_path, capsys):
    model = _lenet(8)
    wrapped = {"epoch": 3, "model": {f"module.{k}": v for k, v in model.state_dict().items()}}
    torch.save(wrapped, tmp_path / "ckpt.pth")
    result = run_zoo(capsys, "weights", "convert", str(tmp_path / "ckpt.pth"), "--model", "lenet5",
                     "--out", str(tmp_path / "b"))
    assert result.code == 0, result.err
    assert _same_tensors(zoo.from_pretrained(tmp_path / "b"), model)
    assert "Converted from ckpt.pth" in (tmp_path / "b" / "README.md").read_text()


def test_foreign_checkpoint_with_another_head_converts_with_adapt_head(tmp_path, capsys):
    torch.save(_lenet(8, num_classes=100).state_dict(), tmp_path / "ckpt.pt")
    refused = run_zoo(capsys, "weights", "convert", str(tmp_path / "ckpt.pt"), "--model", "lenet5", "--out", str(tmp_path / "b"))
    assert refused.code == 2 and "--adapt-head" in refused.err and not (tmp_path / "b").exists()
    done = run_zoo(capsys, "weights", "convert", str(tmp_path / "ckpt.pt"), "--model", "lenet5", "--out",
                   str(tmp_path / "b"), "--adapt-head")
    assert done.code == 0, done.err
    assert zoo.from_pretrained(tmp_path / "b").zoo_config.num_classes == 10


# ---------------------------------------------------------------- packaging a run's bundle for shipping


def test_package_tags_a_bundle_adds_eval_metrics_and_prints_its_manifest_entry(wt, tmp_path, capsys):
    import yaml

    run_bundle = zoo.save_pretrained(zoo.create_model("tiny"), tmp_path / "run" / "bundle", data="mnist",
                                     metrics={"test_loss": 0.5}, command="zoo train tiny --data mnist")
    report = tmp_path / "eval.json"
    report.write_text(json.dumps({"model": "wt:tiny", "weights": str(run_bundle), "data": "mnist", "split": "test",
                                  "examples": 10000, "accuracy": 0.987}))
    out = wt.root / "weights" / "tiny.mnist"
    result = run_zoo(capsys, "weights", "package", str(run_bundle), "--tag", "mnist", "--out", str(out),
                     "--eval", str(report), "--license", "MIT")
    assert result.code == 0, result.err
    (entry,) = yaml.safe_load(result.out.split("\n", 1)[1])
    assert entry["path"] == "weights/tiny.mnist" and entry["metrics"] == {"test_loss": 0.5, "test_accuracy": 0.987}
    doc = json.loads((out / "config.json").read_text())
    assert (doc["tag"], doc["license"], doc["command"]) == ("mnist", "MIT", "zoo train tiny --data mnist")
    assert (out / "model.safetensors").read_bytes() == (run_bundle / "model.safetensors").read_bytes()
    wt.declare("tiny", entry)
    assert _same_tensors(zoo.load("tiny.mnist"), zoo.from_pretrained(run_bundle))


def test_package_refuses_an_eval_report_of_other_weights(wt, tmp_path, capsys):
    run_bundle = zoo.save_pretrained(zoo.create_model("tiny"), tmp_path / "bundle")
    report = tmp_path / "eval.json"
    report.write_text(json.dumps({"weights": str(tmp_path / "elsewhere"), "split": "test", "accuracy": 0.9}))
    result = run_zoo(capsys, "weights", "package", str(run_bundle), "--tag", "mnist", "--out", str(tmp_path / "out"),
                     "--eval", str(report))
    assert result.code == 2 and "evaluated" in result.err and not (tmp_path / "out").exists()
