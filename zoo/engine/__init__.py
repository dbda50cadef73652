"""The training engine: one loop for every task (see `zoo.tasks` for what a task supplies).

    zoo.engine.config       RunConfig (model, data, train sections), TrainConfig, `--set` routing (torch-free)
    zoo.engine.trainer      Trainer: the loop, evaluation, early stop, divergence, the final bundle
    zoo.engine.checkpoint   resumable checkpoints in one safetensors file (no pickle)
    zoo.engine.rundir       the run directory's files, metrics.jsonl, curves.png
    zoo.engine.distributed  DDP under torch.distributed.run, sharding, the launcher
    zoo.engine.precision    train.precision (fp32, bf16, fp16 + GradScaler, tf32) and train.compile
    zoo.engine.display      the progress bar

This `__init__` imports nothing, so importing the config stays torch-free.
"""
