"""Bad weights input through the CLI: each case is one clear line on stderr, exit code 2, no
traceback, and nothing created or overwritten (the export target stays as it was)."""

from __future__ import annotations

import json
import pickle
import shutil
import struct
from pathlib import Path

import pytest
import torch
from cli_runner import run_zoo
from safetensors.torch import save_file

import zoo


class Payload:
    """Unpickling this would create a file: proof that nothing was executed is that the file is absent."""

    marker: Path

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("good")
    torch.manual_seed(0)
    return {"lenet5": zoo.save_pretrained(zoo.create_model("lenet5"), root / "lenet5"),
            "lenet5_classic": zoo.save_pretrained(zoo.create_model("lenet5_classic"), root / "classic")}


def _resave(bundle: Path, change) -> None:
    """Rewrite model.safetensors with the same zoo metadata but tensors changed by `change(state)`."""
    from safetensors import safe_open

    with safe_open(bundle / "model.safetensors", "pt") as f:
        meta, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    change(state)
    save_file(state, str(bundle / "model.safetensors"), metadata=meta)


def _raw_header(bundle: Path, header: dict, data: bytes = b"") -> None:
    text = json.dumps(header).encode()
    (bundle / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + data)


def _evil_pickle(path: Path, marker: Path, torch_zip: bool) -> None:
    Payload.marker = marker
    if torch_zip:
        torch.save({"features.0.weight": Payload()}, path)
    else:
        path.write_bytes(pickle.dumps(Payload(), protocol=2))


def _truncate(b: Path) -> None:
    data = (b / "model.safetensors").read_bytes()
    (b / "model.safetensors").write_bytes(data[: len(data) // 2])


def _huge_header_length(b: Path) -> None:
    (b / "model.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")


def _huge_tensor(b: Path) -> None:
    _raw_header(b, {"features.0.weight": {"dtype": "F32", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 4 << 40]}},
                b"\0" * 64)


def _unknown_dtype(b: Path) -> None:
    _raw_header(b, {"features.0.weight": {"dtype": "F99", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8)


def _int_weights(b: Path) -> None:
    _resave(b, lambda s: s.__setitem__("features.0.weight", s["features.0.weight"].to(torch.int32)))


def _nan_weights(b: Path) -> None:
    _resave(b, lambda s: s["features.0.weight"].fill_(float("nan")))


def _config_missing(b: Path) -> None:
    (b / "config.json").unlink()


def _config_not_json(b: Path) -> None:
    (b / "config.json").write_text('{"format": "zoo-bundle", ')


def _config_field_missing(b: Path) -> None:
    doc = json.loads((b / "config.json").read_text())
    del doc["model"]
    (b / "config.json").write_text(json.dumps(doc))


def _config_edited(b: Path) -> None:
    doc = json.loads((b / "config.json").read_text())
    doc["config"]["dropout"] = 0.5
    (b / "config.json").write_text(json.dumps(doc))


# (case, how to damage a copy of the lenet5 bundle, what the one line must say)
CASES = [
    ("truncated_safetensors", _truncate, "truncated"),
    ("header_claims_huge_length", _huge_header_length, "header claims 1,099,511,627,776 bytes (limit 100,000,000)"),
    ("header_claims_huge_tensor", _huge_tensor, "tensor 'features.0.weight' ends at byte 4,398,046,511,104 but the file holds 64"),
    ("unknown_dtype", _unknown_dtype, "tensor 'features.0.weight': unknown dtype 'F99'"),
    ("wrong_dtype", _int_weights, "wrong dtype features.0.weight (int32 vs model float32)"),
    ("nan_weights", _nan_weights, "NaN/Inf weights in features.0.weight (150 of 150 values)"),
    ("config_json_missing", _config_missing, "not a bundle (config.json is missing)"),
    ("config_json_not_json", _config_not_json, "config.json: not valid JSON"),
    ("config_json_field_missing", _config_field_missing, "malformed bundle config: model: Field required"),
    ("config_json_edited", _config_edited, "config_hash does not match the config"),
]


def _assert_one_line_refusal(result, expected: str) -> None:
    assert result.code == 2, (result.out, result.err)
    assert result.err.startswith("error: ") and result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    assert expected in result.err, result.err


@pytest.mark.parametrize("case, damage, expected", CASES, ids=[c[0] for c in CASES])
def test_damaged_bundle_is_refused_in_one_line_and_nothing_is_written(case, damage, expected, good, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    shutil.copytree(good["lenet5"], bundle)
    damage(bundle)
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    out = tmp_path / "exported.onnx"
    result = run_zoo(capsys, "export", "lenet5", "--weights", str(bundle), "--format", "onnx", "--out", str(out))
    _assert_one_line_refusal(result, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"], "something was created"
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before, "the bundle was modified"
    verified = run_zoo(capsys, "weights", "verify", str(bundle))
    assert verified.code == 2 and expected in verified.err


def test_existing_export_target_is_not_overwritten_by_a_failed_export(good, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    shutil.copytree(good["lenet5"], bundle)
    _truncate(bundle)
    out = tmp_path / "lenet5.onnx"
    out.write_bytes(b"precious")
    for extra in ([], ["--overwrite"]):
        result = run_zoo(capsys, "export", "lenet5", "--weights", str(bundle), "--out", str(out), *extra)
        assert result.code == 2 and out.read_bytes() == b"precious"


@pytest.mark.parametrize("torch_zip", [True, False], ids=["torch_save_zip", "raw_pickle"])
def test_pickle_payload_is_never_executed(torch_zip, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    _evil_pickle(evil, marker, torch_zip)
    converted = run_zoo(capsys, "weights", "convert", str(evil), "--model", "lenet5", "--out", str(tmp_path / "b"))
    _assert_one_line_refusal(converted, "refused: the pickle asks to run code")
    if torch_zip:
        assert "global io.open" in converted.err
    # The same bytes dressed up as a bundle's weights file are not even unpickled.
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(evil, bundle / "model.safetensors")
    (bundle / "config.json").write_text(json.dumps({"note": "irrelevant: the weights are checked too"}))
    exported = run_zoo(capsys, "export", "lenet5", "--weights", str(bundle / "model.safetensors"), "--out", str(tmp_path / "x.onnx"))
    _assert_one_line_refusal(exported, "is a pickled torch checkpoint, not safetensors")
    assert not marker.exists(), "the pickle payload ran"
    assert not (tmp_path / "b").exists() and not (tmp_path / "x.onnx").exists()


def test_bundle_of_another_model_is_refused(good, tmp_path, capsys):
    result = run_zoo(capsys, "export", "lenet5", "--weights", str(good["lenet5_classic"]), "--out", str(tmp_path / "x.onnx"))
    _assert_one_line_refusal(result, "holds weights of zoo:lenet5_classic, not zoo:lenet5")
    assert not (tmp_path / "x.onnx").exists()


def test_weights_file_from_another_bundle_is_refused(good, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    shutil.copytree(good["lenet5"], bundle)
    shutil.copy(good["lenet5_classic"] / "model.safetensors", bundle / "model.safetensors")
    result = run_zoo(capsys, "weights", "verify", str(bundle))
    assert result.code == 2 and "do not belong together" in result.err


def test_missing_weights_source_is_one_line(tmp_path, capsys):
    result = run_zoo(capsys, "export", "lenet5", "--weights", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.onnx"))
    _assert_one_line_refusal(result, "no such bundle directory, weights file or pretrained tag")
