"""train.loggers: TensorBoard, MLflow, wandb (offline) and CSV receive what metrics.jsonl does, read back by each
tool's own reader; a missing package is one line naming the extra before training; resume continues the same run;
the loggers add no host read between log points."""

from __future__ import annotations

import csv
import sys

import pytest

from cli_runner import run_zoo

TINY = ["--data", "mnist", "--batch-size", "64", "--quiet", "--set", "threads=1", "--set", "max_train_examples=512",
        "--set", "max_eval_examples=200", "--set", "log_every=2"]


@pytest.fixture(autouse=True)
def _mnist(mnist_home, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)


def loggers(*names: str) -> list[str]:
    return ["--set", f"train.loggers=[{','.join(names)}]"]


def steps_of(records: list[dict], kind: str = "step") -> list[int]:
    return [r["step"] for r in records if r["kind"] == kind]


def event_file_reader(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def test_tensorboard_holds_step_and_epoch_scalars_the_curves_image_and_the_config_as_hparams(tmp_path, capsys):
    from zoo.engine.rundir import RunDir

    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--out", str(out), "--epochs", "2", *TINY, *loggers("tensorboard"))
    assert r.code == 0, r.err
    events = event_file_reader(out / "tensorboard")
    tags = events.Tags()
    assert {"train/loss", "train/accuracy", "train/lr", "val/accuracy", "val/loss", "test/accuracy"} <= set(tags["scalars"])
    records = RunDir(out).records()
    assert [e.step for e in events.Scalars("train/loss")] == steps_of(records)  # every log point, none more
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx([r["loss"] for r in records if r["kind"] == "step"])
    assert [e.value for e in events.Scalars("val/accuracy")] == pytest.approx(
        [r["eval_accuracy"] for r in records if r["kind"] == "eval"])
    curves = events.Images("curves")
    assert len(curves) == 1 and curves[0].width > 100 and curves[0].height > 100
    hparams = event_file_reader(out / "tensorboard").summary_metadata
    assert any("hparams" in m.plugin_data.plugin_name for m in hparams.values())


def test_tensorboard_receives_a_generative_runs_epoch_grids_as_images(tmp_path, capsys):
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "stacked_ae", "--out", str(out), "--epochs", "2", *TINY, *loggers("tensorboard"))
    assert r.code == 0, r.err
    images = event_file_reader(out / "tensorboard").Tags()["images"]
    assert {"grids/recon-001", "grids/recon-002", "grids/samples-001", "grids/samples-002", "curves"} <= set(images)


def test_mlflow_run_read_back_by_its_client_has_the_params_metrics_per_log_point_and_the_bundle(tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--out", str(out), "--epochs", "2", *TINY, *loggers("mlflow"))
    assert r.code == 0, r.err
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    run = client.get_run((out / "mlflow_run_id").read_text().strip())
    assert run.info.status == "FINISHED"
    assert run.data.params["train.max_train_examples"] == "512" and run.data.params["model.name"] == "zoo:lenet5"
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == list(range(2, 17, 2))  # 8 steps an epoch, a log point every 2
    assert run.data.metrics["test_accuracy"] > 0.3
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "bundle")}
    assert {"bundle/config.json", "bundle/model.safetensors", "bundle/README.md"} <= artifacts


def test_wandb_writes_an_offline_run_and_reaches_no_server_by_default(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there: an online call would fail
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--out", str(out), "--epochs", "1", *TINY, *loggers("wandb"))
    assert r.code == 0, r.err
    run_id = (out / "wandb_run_id").read_text().strip()
    offline = list((out / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(offline) == 1 and (offline[0] / f"run-{run_id}.wandb").stat().st_size > 1000


def test_csv_has_one_row_per_value_of_every_record(tmp_path, capsys):
    from zoo.engine.rundir import RunDir

    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--out", str(out), "--epochs", "1", *TINY, *loggers("csv"))
    assert r.code == 0, r.err
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    losses = [(int(row["step"]), float(row["value"])) for row in rows if row["name"] == "train/loss"]
    records = RunDir(out).records()
    assert losses == [(r["step"], pytest.approx(r["loss"])) for r in records if r["kind"] == "step"]
    assert [row["kind"] for row in rows if row["name"] == "test/accuracy"] == ["end"]


def test_a_missing_logger_package_is_one_line_naming_the_extra_exit_2_and_no_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed: importlib finds no spec for it
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--out", str(out), "--epochs", "1", *TINY, *loggers("tensorboard", "wandb"))
    assert r.code == 2
    assert r.err.strip().splitlines() == [
        'error: train.loggers: wandb needs the wandb package, which is not installed (pip install "zoo[wandb]")']
    assert not out.exists()


def test_an_unknown_logger_is_refused_with_the_choices(tmp_path, capsys):
    r = run_zoo(capsys, "train", "lenet5", "--out", str(tmp_path / "run"), *TINY, *loggers("neptune"))
    assert r.code == 2 and "loggers" in r.err and "tensorboard" in r.err and len(r.err.strip().splitlines()) == 1


def test_a_resumed_run_continues_the_same_mlflow_tensorboard_and_csv_runs_without_repeating_steps(tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "run"
    first = run_zoo(capsys, "train", "lenet5", "--out", str(out), "--epochs", "1", *TINY,
                    *loggers("tensorboard", "mlflow", "csv"))
    assert first.code == 0, first.err
    run_id = (out / "mlflow_run_id").read_text().strip()
    again = run_zoo(capsys, "train", "--resume", str(out), "--epochs", "2", "--quiet")
    assert again.code == 0, again.err
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    assert [r.info.run_id for r in client.search_runs(client.get_experiment_by_name("zoo").experiment_id)] == [run_id]
    assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == list(range(2, 17, 2))
    assert [e.step for e in event_file_reader(out / "tensorboard").Scalars("train/loss")] == list(range(2, 17, 2))
    rows = [int(row["step"]) for row in csv.DictReader((out / "metrics.csv").open()) if row["name"] == "train/loss"]
    assert rows == list(range(2, 17, 2))


def test_loggers_read_nothing_off_the_device_between_log_points(tmp_path, monkeypatch):
    from test_host_syncs import Reads, spy_on_reads, tiny_config

    from zoo.engine.rundir import RunDir
    from zoo.engine.trainer import Trainer

    config = tiny_config("lenet5", 22, "fp32")
    config = config.model_copy(update={"train": config.train.model_copy(update={"loggers": ["jsonl", "tensorboard", "csv"]})})
    reads = Reads()
    spy_on_reads(monkeypatch, reads)
    trainer = Trainer(config, RunDir(tmp_path / "run"), quiet=True)
    reads.trainer = trainer
    trainer.fit()
    assert trainer.progress.step >= 20
    assert not reads.between_boundaries(), reads.between_boundaries()[:5]
    assert (tmp_path / "run" / "tensorboard").is_dir() and (tmp_path / "run" / "metrics.csv").is_file()
