"""How a training step computes: `train.precision` and `train.compile`.

Precisions (weights, gradients and optimizer state are float32 in every one of them):

- `fp32`: every op in float32. On a GPU TF32 is switched off for matmuls and cuDNN
  convolutions during the step (PyTorch leaves cuDNN's on by default), so fp32 means fp32.
  The reference: every shipped recipe uses it, and on a CPU a resumed run ends bit-identical
  to an uninterrupted one.
- `tf32`: float32 tensors, matmuls and convolutions in TF32 (10-bit mantissa inputs, float32
  accumulation) on Ampere and later GPUs. A CPU has no TF32: there it is fp32, bit for bit.
- `bf16`: the forward passes and losses under `torch.autocast(dtype=bfloat16)` (on a CPU too:
  CI trains every task this way). No loss scaling: bfloat16 has float32's exponent range.
- `fp16`: autocast to float16 and one `torch.amp.GradScaler` per optimizer (a GAN's generator
  and discriminator scale their losses independently). A step whose scaled gradients overflow
  is skipped and its scaler's scale halved: that is how fp16 training works, not divergence,
  which is a non-finite *loss*. The scalers' state is in every checkpoint, so a resumed run
  continues with the scales it had. A critic's gradient penalty differentiates D's unscaled
  output: its gradient is driven to norm 1, far from float16's underflow, so it needs no
  scaling of its own. The unrolled D steps of an unrolled GAN go through the stepper and
  scale like any other D step. On a GPU, GradScaler reads its overflow flag on the host once
  per update unless the optimizer is fused (`build_optimizer` fuses Adam and AdamW there).
  On a CPU fp16 works (CI tests it) but runs many times slower than fp32, CPUs lacking most
  float16 kernels (`benchmarks/bench_precision.py`); bf16 is the CPU's mixed precision.

Backward passes run outside autocast (PyTorch's advice): their ops take the dtypes the forward
ops chose. Evaluation and sampling run outside these contexts, in float32 at PyTorch's defaults
(which let cuDNN use TF32 on a GPU), whatever the training precision; export checks its files
in strict fp32 (`exact_fp32`).

`train.compile` compiles each module the task steps (`Task.modules()`, after DDP wrapping)
with `torch.compile(mode=train.compile_mode)`. The compiled wrapper is only what the task
calls: the weights saved (checkpoints, best/last files, the bundle) are the modules' own, never
under `_orig_mod.`. A module that fails to compile stops the run with one line naming it; there
is no silent fall back to eager.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn

from zoo.errors import ZooError

PRECISIONS = ("fp32", "bf16", "fp16", "tf32")
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


class CompileError(ZooError):
    """torch.compile could not compile one of the task's modules: one line naming it, exit 2."""


class Precision:
    """`train.precision` on one device: the context of a training step, of a backward pass, and the scalers."""

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in PRECISIONS:
            from zoo.errors import ConfigError

            raise ConfigError(f"train.precision={name!r}: use {', '.join(PRECISIONS)}")
        self.name, self.device = name, device
        self.dtype = AUTOCAST.get(name)

    @contextmanager
    def step(self) -> Iterator[None]:
        """Around one training step: autocast for bf16/fp16, the TF32 switches on a GPU (put back after)."""
        with tf32(self.device, self.name == "tf32"), \
                (torch.autocast(self.device.type, dtype=self.dtype) if self.dtype else nullcontext()):
            yield

    def backward(self) -> Any:
        """Around a backward pass: outside autocast (its ops follow the forward's dtypes)."""
        return torch.autocast(self.device.type, enabled=False) if self.dtype else nullcontext()

    def scalers(self, names: list[str]) -> dict[str, torch.amp.GradScaler]:
        """One GradScaler per optimizer under fp16; none otherwise."""
        if self.name != "fp16":
            return {}
        return {n: torch.amp.GradScaler(self.device.type) for n in names}


@contextmanager
def tf32(device: torch.device, allowed: bool) -> Iterator[None]:
    """TF32 matmuls and cuDNN convolutions on (`allowed`) or off for the block, on a GPU; nothing on a CPU."""
    if device.type != "cuda":
        yield
        return
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32
    matmul.allow_tf32 = cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def exact_fp32(device: torch.device) -> Any:
    """Float32 as written (TF32 off on a GPU): what export's check against PyTorch needs."""
    return tf32(device, False)


class Compiled(nn.Module):
    """A task module under torch.compile, as the task calls it; a failure to compile names the module.

    Holds the compiled callable outside the module tree (no `_orig_mod.` submodule), so even the
    state dict of this wrapper is the module's own."""

    def __init__(self, module: nn.Module, name: str, mode: str) -> None:
        super().__init__()
        self.module_name = name
        self.__dict__["compiled"] = torch.compile(module, mode=mode)  # not registered: no second copy of the weights
        self.__dict__["original"] = module

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.compiled(*args, **kwargs)
        except Exception as err:
            if not compile_failure(err):
                raise
            raise CompileError(f"train.compile: torch.compile failed on module '{self.module_name}' "
                               f"({type(self.original).__name__}): {first_line(err)}; train without --set compile=true "
                               "or try another train.compile_mode") from None

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return self.original.state_dict(*args, **kwargs)

    def train(self, mode: bool = True) -> Compiled:
        self.original.train(mode)
        return super().train(mode)


def compile_failure(err: BaseException) -> bool:
    """Whether `err` came out of torch.compile's machinery (Dynamo, AOTAutograd, Inductor) rather than the model."""
    from torch._dynamo.exc import TorchDynamoException

    if isinstance(err, TorchDynamoException):
        return True
    module = type(err).__module__ or ""
    return module.startswith(("torch._dynamo", "torch._inductor", "torch._functorch"))


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    lines = [line.strip() for line in text if line.strip()]
    return lines[0][:300] if lines else type(err).__name__
