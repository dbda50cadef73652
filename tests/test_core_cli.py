"""The `zoo` command line as a user meets it: output, JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cli_runner import run_zoo

ROOT = Path(__file__).resolve().parents[1]


def test_list_json_describes_each_model(capsys):
    result = run_zoo(capsys, "list", "lenet*", "--json")
    assert result.code == 0
    rows = {r["name"]: r for r in json.loads(result.out)}
    assert rows["lenet5"]["task"] == "classification" and rows["lenet5"]["plugin"] == "zoo"


def test_list_rejects_unknown_task_naming_the_allowed_ones(capsys):
    result = run_zoo(capsys, "list", "--task", "painting")
    assert result.code == 2
    assert result.err.strip() == ("error: unknown task 'painting' (known: adversarial, autoencoding, "
                                  "classification, image-to-image, text-to-image, variational)")


def test_list_tasks_shows_every_registered_task_with_its_plugin_and_model_count(capsys):
    result = run_zoo(capsys, "list", "--tasks", "--json")
    assert result.code == 0
    rows = {r["name"]: r for r in json.loads(result.out)}
    assert set(rows) >= {"classification", "autoencoding", "variational", "adversarial", "text-to-image"}
    assert rows["classification"]["plugin"] == "zoo"
    assert rows["classification"]["code"] == "zoo.tasks.classification:ClassificationTask"
    assert rows["text-to-image"]["models"] == 1 and rows["classification"]["models"] >= 20


def test_info_shows_parameter_count_config_fields_and_family(capsys):
    result = run_zoo(capsys, "info", "lenet5")
    assert result.code == 0
    assert "61,706 at the default config" in result.out
    assert "num_classes" in result.out and "Number of output classes." in result.out
    assert "LeCun et al. 1998" in result.out


def test_info_of_a_family_names_its_members_and_default(capsys):
    result = run_zoo(capsys, "info", "lenet")
    assert "lenet family" in result.out and "(default: lenet5)" in result.out


def test_info_schema_prints_the_config_json_schema(capsys):
    result = run_zoo(capsys, "info", "lenet5", "--schema")
    schema = json.loads(result.out)
    assert schema["properties"]["num_classes"]["default"] == 10
    assert schema["additionalProperties"] is False


def test_build_prints_layers_parameters_and_output_shape(capsys):
    result = run_zoo(capsys, "build", "lenet5", "--set", "num_classes=3", "--set", "image_size=28")
    assert result.code == 0
    assert "zoo:lenet5: 61,111 parameters" in result.out
    assert "input (1, 1, 28, 28) -> output (1, 3)" in result.out


def test_build_json_reports_config_and_shapes(capsys):
    result = run_zoo(capsys, "build", "lenet5", "--json", "--set", "in_chans=3")
    data = json.loads(result.out)
    assert data["config"]["in_chans"] == 3
    assert data["input_shape"] == [1, 3, 32, 32] and data["output_shape"] == [1, 10]
    assert data["params"] == sum(layer["params"] for layer in data["layers"])


def test_build_reads_a_config_file_and_lets_set_override_it(capsys, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("num_classes: 4\nimage_size: 28\n")
    result = run_zoo(capsys, "build", "lenet5", "--config", str(cfg), "--set", "num_classes=5", "--json")
    data = json.loads(result.out)
    assert data["config"]["num_classes"] == 5 and data["config"]["image_size"] == 28


def test_unknown_model_is_one_line_with_suggestions_and_exit_2(capsys):
    result = run_zoo(capsys, "build", "lenet6")
    assert result.code == 2
    assert result.err.strip() == "error: no model 'lenet6'; did you mean: lenet, lenet5"
    assert run_zoo(capsys, "build", "vgg17").err.strip() == "error: no model 'vgg17'; did you mean: vgg16, vgg19"


def test_unknown_config_key_is_an_error_not_ignored(capsys):
    result = run_zoo(capsys, "build", "lenet5", "--set", "depth=17")
    assert result.code == 2
    assert result.err.startswith("error: invalid config for lenet5: unknown field 'depth' (allowed: num_classes")
    assert "Traceback" not in result.err


def test_bad_config_value_names_field_value_and_allowed_values(capsys):
    result = run_zoo(capsys, "build", "lenet5", "--set", "activation=swish")
    assert result.code == 2
    assert "activation='swish': input should be 'relu', 'leaky_relu'" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_malformed_set_and_config_file_are_one_line_errors(capsys, tmp_path):
    assert "--set expects key=value" in run_zoo(capsys, "build", "lenet5", "--set", "num_classes").err
    bad = tmp_path / "bad.yaml"
    bad.write_text("num_classes: [1,\n")
    result = run_zoo(capsys, "build", "lenet5", "--config", str(bad))
    assert result.code == 2 and f"config file {bad} is not valid YAML" in result.err
    missing = run_zoo(capsys, "build", "lenet5", "--config", str(tmp_path / "nope.yaml"))
    assert missing.code == 2 and "cannot read config file" in missing.err


def test_debug_flag_shows_the_traceback():
    result = subprocess.run([sys.executable, "-m", "zoo", "--debug", "build", "lenet6"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "UnknownModelError" in result.stderr


def test_cli_py_and_python_m_zoo_run_the_same_app():
    via_module = subprocess.run([sys.executable, "-m", "zoo", "list", "--json"], capture_output=True, text=True, check=True)
    via_script = subprocess.run([sys.executable, str(ROOT / "cli.py"), "list", "--json"], capture_output=True,
                                text=True, check=True, cwd=ROOT)
    assert json.loads(via_module.stdout) == json.loads(via_script.stdout)


def test_list_into_a_closed_pipe_ends_quietly():
    import subprocess
    import sys

    result = subprocess.run(f"'{sys.executable}' -m zoo list | head -1", shell=True, capture_output=True, text=True)
    assert result.stdout.startswith("name") and "Traceback" not in result.stderr and "Error" not in result.stderr
