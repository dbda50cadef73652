"""Bad input to the autoencoder/VAE commands: one line starting 'error: ', exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

import zoo
from cli_runner import run_zoo


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """Untrained vae and cvae bundles (the checks under test never look at the weights' quality)."""
    root = tmp_path_factory.mktemp("bundles")
    return {name: zoo.save_pretrained(zoo.create_model(name), root / name) for name in ("vae", "cvae", "ae")}


CASES = {
    "label-on-unconditional": (["sample", "--weights", "{vae}", "--label", "3"], "--label needs a conditional model"),
    "label-out-of-range": (["sample", "--weights", "{cvae}", "--label", "10"], "--label 10 is out of range: zoo:cvae has labels 0 to 9"),
    "label-on-classifier": (["sample", "lenet5.mnist", "--label", "3"],
                            "option --label does not apply to zoo:lenet5 (task classification); its options: --n, --out, --seed"),
    "interpolate-on-classifier": (["sample", "lenet5.mnist", "--interpolate"], "--interpolate does not apply to zoo:lenet5"),
    "latent-map-without-codes": (["eval", "lenet5.mnist", "--latent-map", "map.png"],
                                 "option --latent-map does not apply to zoo:lenet5 (task classification)"),
    "latent-map-with-metrics": (["eval", "--weights", "{vae}", "--metrics", "fid", "--latent-map", "map.png"],
                                "--latent-map and --linear-probe read codes: give them without --metrics"),
    "iw-samples-zero": (["eval", "--weights", "{vae}", "--iw-samples", "0"],
                        "--iw-samples: Input should be greater than or equal to 1 (got '0')"),
    "iw-samples-on-an-autoencoder": (["eval", "--weights", "{ae}", "--iw-samples", "5"],
                                     "option --iw-samples does not apply to zoo:ae (task autoencoding)"),
    "switch-with-a-value": (["sample", "--weights", "{vae}", "--reconstruct=yes"], "--reconstruct is a switch"),
    "value-option-without-value": (["sample", "--weights", "{vae}", "--n"], "--n needs a value"),
    "stray-argument": (["sample", "--weights", "{vae}", "--n", "4", "extra"], "argument 'extra' does not apply to zoo:vae"),
    "vae-to-predict": (["predict", "{image}", "--weights", "{vae}"], "zoo predict needs a classifier; zoo:vae is not one"),
    "vae-to-classifier-training": (["train", "lenet5", "--init-from", "{vae}", "--out", "{out}"],
                                   "it holds zoo:vae, which has no module of zoo:lenet5"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case, bundles, tmp_path, capsys, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))  # every case fails before it needs any data
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(image)
    args, message = CASES[case]
    fill = {"vae": bundles["vae"], "cvae": bundles["cvae"], "ae": bundles["ae"], "image": image, "out": tmp_path / "run"}
    r = run_zoo(capsys, *[a.format(**fill) for a in args])
    assert r.code == 2, r.err
    assert r.err.startswith("error: ") and len(r.err.strip().splitlines()) == 1, r.err
    assert message in r.err
    assert not (tmp_path / "map.png").exists() and not (tmp_path / "run" / "config.yaml").exists()
