"""Third-party plugins: discovery through entry points, isolation of broken ones, name collisions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_zoo
from plugin_fixtures import manifest, model_entry, plugins  # noqa: F401  (fixture)

import zoo
from zoo.registry import get_registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "zoo-example-plugin"


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """The example plugin package installed by pip (real wheel build, real dist-info) into a directory."""
    target = tmp_path_factory.mktemp("example-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(EXAMPLE)], check=True, capture_output=True)
    return target


def _zoo(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env)


def test_pip_installed_plugin_lists_describes_and_builds(example_site):
    listed = _zoo(example_site, "list", "--family", "tinycnn")
    assert listed.returncode == 0, listed.stderr
    assert "tinycnn_wide" in listed.stdout and "example" in listed.stdout
    info = _zoo(example_site, "info", "tinycnn")
    assert "zoo-example-plugin 0.2.0" in info.stdout and "parameters" in info.stdout
    built = _zoo(example_site, "build", "tinycnn_wide", "--set", "num_classes=3")
    assert built.returncode == 0, built.stderr
    assert "example:tinycnn_wide: 19,011 parameters" in built.stdout
    assert "-> output (1, 3)" in built.stdout


def test_example_plugin_passes_its_own_contract_tests(example_site):
    env = {**os.environ, "PYTHONPATH": str(example_site)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                            capture_output=True, text=True, env=env, cwd=EXAMPLE)
    assert result.returncode == 0, result.stdout[-2000:]
    from zoo.testing import ModelContract

    checks = [name for name in dir(ModelContract) if name.startswith("test_")]
    assert f"{2 * len(checks)} passed" in result.stdout  # every check, for both of its models


def test_plugin_with_invalid_manifest_is_reported_and_skipped(plugins, capsys):
    bad = model_entry("broken_net", "badpkg", input_size=0)
    path = plugins.install("bad-plugin", "badpkg", manifest("bad", bad))
    listed = run_zoo(capsys, "list", "--json")
    assert listed.code == 0
    assert "lenet5" in listed.out and "broken_net" not in listed.out
    assert listed.err.count("warning:") == 1
    assert f"{path}: invalid manifest: models[0] 'broken_net' input_size: Input should be greater than or equal to 1" in listed.err
    shown = run_zoo(capsys, "plugins", "--json")
    assert "invalid manifest" in shown.out and '"status": "ok"' in shown.out


def test_model_of_an_unregistered_task_is_skipped_naming_the_known_tasks(plugins, capsys):
    typo = model_entry("typo_net", "typopkg", task="clasification")
    fine = model_entry("fine_net", "typopkg")
    plugins.install("typo-plugin", "typopkg", manifest("typo", typo, fine))
    listed = run_zoo(capsys, "list", "--json")
    assert listed.code == 0
    assert "fine_net" in listed.out and "typo_net" not in listed.out
    assert ("model 'typo_net' skipped: unknown task 'clasification' (did you mean 'classification'? known tasks: "
            "adversarial, autoencoding, classification") in listed.err
    shown = run_zoo(capsys, "plugins", "--json")
    assert "unknown task 'clasification'" in shown.out
    built = run_zoo(capsys, "build", "typo_net")
    assert built.code == 2 and "no model 'typo_net'" in built.err


def test_plugin_with_malformed_yaml_names_the_file(plugins, capsys):
    path = plugins.install("yaml-plugin", "yamlpkg", "schema_version: 1\nplugin: [unclosed\n")
    listed = run_zoo(capsys, "list")
    assert listed.code == 0 and "lenet5" in listed.out
    assert f"{path}: not valid YAML" in listed.err


def test_plugin_with_missing_manifest_file_is_reported(plugins, capsys):
    plugins.install("ghost-plugin", "ghostpkg", None)
    listed = run_zoo(capsys, "list")
    assert listed.code == 0 and "manifest file not found" in listed.err


def test_plugin_whose_code_fails_to_import_is_reported_and_others_build(plugins, capsys):
    plugins.install("crash-plugin", "crashpkg", manifest("crash", model_entry("crashnet", "crashpkg")),
                    module_source="raise RuntimeError('boom at import')\n")
    assert "crashnet" in zoo.list_models()  # listing reads manifests only
    shown = run_zoo(capsys, "plugins", "--json")
    assert '"status": "error: crashnet: cannot import crashpkg.tiny: RuntimeError: boom at import"' in shown.out
    built = run_zoo(capsys, "build", "crashnet")
    assert built.code == 2
    assert built.err.strip() == ("error: plugin 'crash' (crashnet): cannot import crashpkg.tiny: "
                                 "RuntimeError: boom at import")
    assert run_zoo(capsys, "build", "lenet5").code == 0


def test_model_name_collision_builtin_wins_and_other_stays_qualified(plugins, capsys):
    plugins.install("rival-plugin", "rivalpkg", manifest("rival", model_entry("lenet5", "rivalpkg")))
    assert zoo.create_model("lenet5").zoo_name == "zoo:lenet5"
    assert zoo.create_model("rival:lenet5").zoo_name == "rival:lenet5"
    assert "rival:lenet5" in zoo.list_models()
    listed = run_zoo(capsys, "list")
    assert listed.err.count("warning:") == 1
    assert "'lenet5' means zoo:lenet5, use rival:lenet5 for the other" in listed.err


def test_collision_between_third_parties_is_won_by_the_first_entry_point_name(plugins):
    plugins.install("zeta-plugin", "zetapkg", manifest("zeta", model_entry("shared", "zetapkg")))
    plugins.install("alpha-plugin", "alphapkg", manifest("alpha", model_entry("shared", "alphapkg")))
    assert zoo.model_info("shared").qualified_name == "alpha:shared"
    assert zoo.model_info("zeta:shared").qualified_name == "zeta:shared"


def test_second_plugin_with_a_taken_plugin_name_is_skipped(plugins):
    plugins.install("copy-plugin", "copypkg", manifest("zoo", model_entry("copynet", "copypkg")))
    reg = get_registry()
    skipped = [p for p in reg.plugins if p.error and "already taken" in p.error]
    assert len(skipped) == 1 and "copynet" not in zoo.list_models()


def test_family_default_must_be_a_member(plugins, capsys):
    plugins.install("fam-plugin", "fampkg", manifest("fam", model_entry("famnet", "fampkg"),
                                                     families=[{"name": "tiny", "default": "nosuch"}]))
    listed = run_zoo(capsys, "list")
    assert "family 'tiny': default 'nosuch' is not one of its models" in listed.err


def test_plugin_naming_a_missing_module_is_warned_once_by_list(plugins, capsys):
    entry = model_entry("lostnet", "lostpkg", config="lostpkg.nosuch:Cfg", builder="lostpkg.nosuch:Net")
    plugins.install("lost-plugin", "lostpkg", manifest("lost", entry))
    listed = run_zoo(capsys, "list")
    assert listed.code == 0 and "lenet5" in listed.out
    assert listed.err.count("warning:") == 1
    assert "module 'lostpkg.nosuch'" in listed.err and "is not installed" in listed.err
    built = run_zoo(capsys, "build", "lostnet")
    assert built.code == 2 and "cannot import lostpkg.nosuch" in built.err
