"""The streaming path: a DataLoader with worker processes reads the in-memory path's order, so a streamed run
is the in-memory run bit for bit, does not depend on its number of workers, resumes mid-epoch exactly after
SIGKILL, and shards like the in-memory path under DDP; what streams is decided by data.stream and the
memory budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cli_runner import run_zoo
from image_folders import make_folder
from zoo.data import DataConfig, DataError, load_dataset
from zoo.data.streaming import StreamedSplit, open_stream
from zoo.engine.distributed import Dist
from zoo.engine.loader import EpochSampler
from zoo.engine.trainer import epoch_order

# val_size=auto (a run's default) said outright: the counts below depend on the 10% held out
RUN = ["--epochs", "2", "--batch-size", "32", "--quiet", "--set", "threads=1", "--set", "log_every=1",
       "--set", "data.val_size=auto"]

# Runs `zoo train ...` and SIGKILLs itself right after the checkpoint of step STOP_AT is on disk: a kill at a
# known point, not a race with a polling loop.
KILLER = """
import os, signal, sys
from zoo.engine import trainer
stop_at = int(os.environ["STOP_AT"])
checkpoint = trainer.Trainer._checkpoint
def checkpoint_then_die(self):
    checkpoint(self)
    if self.progress.step == stop_at:
        os.kill(os.getpid(), signal.SIGKILL)
trainer.Trainer._checkpoint = checkpoint_then_die
from zoo.cli import main
main(sys.argv[1:])
"""


def zoo(*args: str, killer_at: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    code = ["-c", KILLER] if killer_at is not None else ["-m", "zoo"]
    env = {**os.environ, **({"STOP_AT": str(killer_at)} if killer_at is not None else {})}
    return subprocess.run([sys.executable, *code, *args], env=env, capture_output=True, text=True, timeout=timeout)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "bundle/model.safetensors")


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def comparable(run: Path) -> list[dict]:
    """metrics.jsonl without wall-clock fields."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time", "images_per_s")} for r in rows]


@pytest.fixture(scope="module")
def pets(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("stream") / "pets", "RGB", per_class=(96, 16))


def test_a_streamed_run_is_the_in_memory_run_bit_for_bit(pets, tmp_path, capsys):
    memory, streamed = tmp_path / "memory", tmp_path / "streamed"
    common = ["--data", str(pets), *RUN, "--set", "data.image_size=32", "--set", "data.augment=flip-crop"]
    assert run_zoo(capsys, "train", "lenet5", "--out", str(memory), *common).code == 0
    r = run_zoo(capsys, "train", "lenet5", "--out", str(streamed), *common, "--set", "data.stream=true",
                "--set", "data.workers=2")
    assert r.code == 0, r.err
    assert f"streaming {pets}: 173 training images read by 2 DataLoader worker(s) per process" in r.err
    assert same_weights(memory, streamed)
    assert comparable(memory) == comparable(streamed)


def test_streamed_mnist_is_the_in_memory_run_bit_for_bit(mnist_home, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    small = ["--epochs", "1", "--batch-size", "64", "--quiet", "--set", "threads=1", "--set", "max_train_examples=640",
             "--set", "max_eval_examples=200"]
    assert run_zoo(capsys, "train", "lenet5", "--out", str(tmp_path / "a"), *small).code == 0
    r = run_zoo(capsys, "train", "lenet5", "--out", str(tmp_path / "b"), *small, "--set", "data.stream=true",
                "--set", "data.workers=1")
    assert r.code == 0, r.err
    assert "streaming mnist" in r.err
    assert same_weights(tmp_path / "a", tmp_path / "b")


def test_per_image_augmentation_does_not_depend_on_the_number_of_workers(pets, tmp_path, capsys):
    runs = {}
    for workers in (0, 2):
        runs[workers] = tmp_path / f"w{workers}"
        r = run_zoo(capsys, "train", "lenet5", "--data", str(pets), "--out", str(runs[workers]), *RUN,
                    "--set", "data.augment=imagenet", "--set", f"data.workers={workers}")
        assert r.code == 0, r.err
    assert same_weights(runs[0], runs[2])


def test_a_streamed_run_killed_mid_epoch_resumes_bit_identical(pets, tmp_path):
    # imagenet augmentation per image in 2 workers, and mixup: every source of randomness the streaming path has
    args = ["--data", str(pets), *RUN, "--set", "data.augment=imagenet", "--set", "data.workers=2",
            "--set", "data.mixup=0.2", "--set", "checkpoint_every=2"]
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    r = zoo("train", "lenet5", "--out", str(reference), *args)
    assert r.returncode == 0, r.stderr
    steps = 173 // 32
    r = zoo("train", "lenet5", "--out", str(killed), *args, killer_at=steps + 3)  # epoch 2, after its 3rd step
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert not (killed / "bundle").exists()
    r = zoo("train", "--resume", str(killed), "--quiet")
    assert r.returncode == 0, r.stderr
    assert f"at epoch 2, step {steps + 3}" in r.stderr
    assert same_weights(reference, killed)
    assert comparable(reference) == comparable(killed)


def test_two_processes_streaming_match_one(pets, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["--data", str(pets), *RUN, "--set", "data.stream=true", "--set", "data.workers=1",
            "--set", "data.image_size=32"]
    assert zoo("train", "lenet5", "--out", str(one), *args).returncode == 0
    r = zoo("train", "lenet5", "--out", str(two), *args, "--nproc-per-node", "2")
    assert r.returncode == 0, r.stderr
    a, b = weights(one), weights(two)
    # the same global batches, averaged by DDP: equal up to float summation order
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4


def test_the_sampler_yields_the_in_memory_batches_split_across_processes_from_the_resumed_batch():
    n, batch, seed = 50, 8, 3
    ranks = [EpochSampler(n, batch, seed, Dist(rank=r, world=2)) for r in range(2)]
    for sampler in ranks:
        sampler.set_epoch(4)
        sampler.set_start(2)
    order = epoch_order(n, seed, 4)
    got = [[i for i, _ in sampler] for sampler in ranks]
    for step in range(2, n // batch):
        expected = order[step * batch:(step + 1) * batch]
        assert got[0][(step - 2) * 4:(step - 1) * 4] == expected[0::2].tolist()
        assert got[1][(step - 2) * 4:(step - 1) * 4] == expected[1::2].tolist()
    assert len(ranks[0]) == len(got[0]) == (n // batch - 2) * 4
    seeds = [s for sampler in ranks for _, s in sampler]
    assert len(set(seeds)) == len(seeds)  # every example of the epoch its own transform seed


def test_a_folder_over_the_memory_budget_streams_and_under_it_stays_in_memory(pets):
    over = DataConfig(name=str(pets), memory_budget=1e-4)  # 105 KiB: the folder decodes to 576 KiB
    split = open_stream(over, "train", 32, 32)
    assert isinstance(split, StreamedSplit) and len(split) == 192
    image = split.dataset(train=False)[5]["images"]
    assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)
    assert torch.equal(image, load_dataset(str(pets), image_size=32).images[5])  # the same decoder
    from zoo.data.catalog import dataset_for
    from zoo.data.budget import streams

    folder = dataset_for(str(pets), over)
    assert streams(over, folder, pets, 32) is True
    assert streams(DataConfig(name=str(pets)), folder, pets, 32) is False


def test_a_task_that_reads_into_memory_refuses_to_stream_in_one_line(pets, tmp_path, capsys):
    r = run_zoo(capsys, "train", "ae", "--data", str(pets), "--out", str(tmp_path / "run"), "--epochs", "1",
                "--quiet", "--set", "data.stream=true")
    assert r.code == 2
    assert r.err.strip().splitlines()[-1] == ("error: data.stream=true, but this task reads its data into memory "
                                              "(only classifiers stream)")
    with pytest.raises(DataError, match=r"takes 576\.0 KiB decoded, more than the memory budget \(10\.5 KiB\)"):
        load_dataset(DataConfig(name=str(pets), memory_budget=1e-5))
    assert not (tmp_path / "run").exists()


def test_an_image_that_breaks_in_a_worker_is_one_line(pets, tmp_path, capsys):
    import shutil

    folder = tmp_path / "pets"
    shutil.copytree(pets, folder)
    # a PNG whose header reads but whose pixels are cut off: only decoding it (in a worker) finds out
    victim = folder / "train/dog/50.png"
    victim.write_bytes(victim.read_bytes()[:120])
    r = run_zoo(capsys, "train", "lenet5", "--data", str(folder), "--out", str(tmp_path / "run"), *RUN,
                "--set", "data.stream=true", "--set", "data.workers=1")
    assert r.code == 2
    last = r.err.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot decode image {victim}: ") and "Traceback" not in r.err
