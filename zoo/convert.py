"""torchvision and timm state dicts -> zoo models (VGG, AlexNet, GoogLeNet).

The zoo's `vgg11`…`vgg19(_bn)`, `alexnet_torchvision` and `googlenet_torchvision` use
torchvision's module names, so torchvision state dicts load as they are. timm's VGG holds its
first two classifier layers as convolutions (`pre_logits.fc1` 7×7, `pre_logits.fc2` 1×1) and
its last as `head.fc`; those are renamed and reshaped into the zoo's linear layers (a 7×7 conv
over a 7×7 map is a linear layer over the flattened (C, H, W) map).

Config fields the weights decide (num_classes, in_chans, the classifier's pooling grid, the
GoogLeNet aux heads) are read from the tensors unless given. Sources: an in-memory state
dict, a `.safetensors` file, or a torch checkpoint read with `torch.load(weights_only=True)`.
Anything that does not fit is one error line listing what differs.

torchvision's pretrained GoogLeNet re-normalises its input inside forward
(`transform_input=True`); the zoo model does not, so feed it inputs normalised as
torchvision's weights were trained (ImageNet mean/std, then (x·std + mean − 0.5)/0.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.weights import WeightsError

FAMILIES = ("vgg", "alexnet", "googlenet")

# timm VGG name -> zoo (torchvision) name; the conv weights are flattened into linear ones.
_TIMM_VGG = {"pre_logits.fc1": "classifier.0", "pre_logits.fc2": "classifier.3", "head.fc": "classifier.6"}

# Per family: (first conv weight, classifier weight, fc6 weight or None) in zoo names.
_LAYOUT = {
    "vgg": ("features.0.weight", "classifier.6.weight", "classifier.0.weight"),
    "alexnet": ("features.0.weight", "classifier.6.weight", "classifier.1.weight"),
    "googlenet": ("conv1.conv.weight", "fc.weight", None),
}


def read_state_dict(source: Mapping[str, Any] | str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a state dict, a .safetensors file or a torch checkpoint (weights_only)."""
    if isinstance(source, Mapping):
        bad = [str(k) for k, v in source.items() if not isinstance(v, torch.Tensor)]
        if bad:
            raise WeightsError(f"state dict values must be tensors; not for: {', '.join(bad[:5])}")
        return {str(k).removeprefix("module."): v for k, v in source.items()}
    path = Path(source)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    from zoo.weights.foreign import read_checkpoint

    return read_checkpoint(path)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise WeightsError(f"{path}: no such safetensors file")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise WeightsError(f"{path}: not a readable safetensors file: {err}") from None


def to_zoo_names(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename timm VGG's conv-form classifier into the zoo's linear layers; other keys pass through."""
    out = {}
    for key, value in tensors.items():
        prefix, _, leaf = key.rpartition(".")
        if prefix in _TIMM_VGG:
            key = f"{_TIMM_VGG[prefix]}.{leaf}"
            if leaf == "weight" and value.dim() == 4:
                value = value.flatten(1)  # (out, C, kh, kw) -> (out, C·kh·kw), (C, H, W) order
        out[key] = value
    return out


def inferred_fields(family: str, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Config fields the tensors fix: num_classes, in_chans, head_grid, aux_logits."""
    first, head, fc6 = _LAYOUT[family]
    fields: dict[str, Any] = {}
    if head in tensors:
        fields["num_classes"] = tensors[head].shape[0]
    if first in tensors and tensors[first].dim() == 4:
        fields["in_chans"] = tensors[first].shape[1]
    if family == "googlenet":
        fields["aux_logits"] = "aux1.fc2.weight" in tensors
    if fc6 is not None and fc6 in tensors:
        channels = _last_conv_channels(tensors)  # fc6 input = channels × grid²
        grid = round((tensors[fc6].shape[1] / max(channels, 1)) ** 0.5)
        if channels and grid * grid * channels == tensors[fc6].shape[1]:
            fields["head_grid"] = grid
    return fields


def _last_conv_channels(tensors: dict[str, torch.Tensor]) -> int:
    convs = [(int(k.split(".")[1]), v) for k, v in tensors.items()
             if k.startswith("features.") and k.endswith(".weight") and v.dim() == 4]
    return max(convs, key=lambda kv: kv[0])[1].shape[0] if convs else 0


def convert_state_dict(name: str, source: Mapping[str, Any] | str | Path, **overrides: Any) -> nn.Module:
    """Build zoo model `name` and load a torchvision/timm state dict into it (strictly).

    `overrides` are config fields; fields the weights decide are inferred when not given.
    """
    from zoo.api import build, config_for, resolve
    from zoo.weights.fit import match

    spec, _ = resolve(name)
    family = spec.entry.family
    if family not in FAMILIES:
        raise WeightsError(f"conversion from torchvision/timm covers the vgg, alexnet and googlenet families; "
                           f"'{spec.name}' is in '{family}'")
    tensors = to_zoo_names(read_state_dict(source))
    config = config_for(spec, {**inferred_fields(family, tensors), **overrides})
    # Built without initialising (meta device): every tensor is overwritten by the load below,
    # which refuses to proceed unless the state dict covers the whole model.
    with torch.device("meta"):
        model = build(spec, config)
    model.to_empty(device="cpu")
    source_name = "state dict" if isinstance(source, Mapping) else str(source)
    problems = match(model, tensors).problems(strict=True)
    if problems:
        raise WeightsError(f"{source_name} does not fit {spec.name}: {'; '.join(problems)}{_variant_hint(spec.name)}")
    model.load_state_dict(tensors, strict=True)
    return model


def _variant_hint(name: str) -> str:
    from zoo.registry import get_registry

    peer = f"{name}_torchvision"
    return f" (torchvision's {name} converts into '{peer}')" if peer in get_registry().by_name else ""


def convert_file(name: str, source: str | Path, out: str | Path, *, overwrite: bool = False, **overrides: Any) -> Path:
    """Convert `source` into zoo model `name` and write a weights bundle at `out`."""
    import zoo

    model = convert_state_dict(name, source, **overrides)
    return zoo.save_pretrained(model, out, overwrite=overwrite,
                               notes=f"Converted from {Path(source).name} (torchvision/timm layout) by `zoo convert`.")
