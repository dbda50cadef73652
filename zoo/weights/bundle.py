"""Saving and loading bundles: `save_pretrained`, `from_pretrained`, `load`, `load_weights`.

A bundle rebuilds its model from its own config (through the registry), then loads the
weights strictly. The safetensors metadata repeats the model name and the config hash, so a
lone `.safetensors` file written by the zoo still says which model and config it belongs to.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch import nn

from zoo.errors import UnknownModelError
from zoo.weights import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE, WeightsError
from zoo.weights.card import BundleConfig, Preprocessing, config_hash, read_bundle_config, render_card
from zoo.weights.fit import load_into
from zoo.weights.safefile import load_tensors, save_tensors, sha256_file

# safetensors metadata keys (values are strings).
META_MODEL = "zoo_model"
META_HASH = "zoo_config_hash"
META_CONFIG = "zoo_config"
META_ALIASES = "zoo_aliases"


def unwrap(model: nn.Module) -> nn.Module:
    """The module under DistributedDataParallel / DataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(model, "_orig_mod", None)
        if isinstance(inner, nn.Module):
            model = inner
        elif isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        else:
            return model


def identity(model: nn.Module) -> tuple[str, Any]:
    """(`plugin:model`, config) that zoo.create_model attached to the module."""
    name, config = getattr(model, "zoo_name", None), getattr(model, "zoo_config", None)
    if name is None or config is None:
        raise WeightsError(f"{type(model).__name__} was not built by zoo.create_model (no zoo_name/zoo_config), "
                           "so it cannot be saved as a bundle")
    return name, config


def config_dict(config: Any) -> dict[str, Any]:
    return config.model_dump(mode="json")


# ---------------------------------------------------------------- saving


def save_pretrained(
    model: nn.Module,
    directory: str | Path,
    *,
    tag: str | None = None,
    data: str = "",
    preprocessing: Preprocessing | dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    command: str = "",
    license: str = "",
    notes: str = "",
    evaluation: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `model` as a bundle directory (config.json, model.safetensors, README.md).

    The keyword arguments fill the model card: `tag` ('mnist'), `data` (training data),
    `preprocessing` (mean/std, value_range, class_names; input size and channels default to the
    config's), `metrics` (measured), `command` (the exact `zoo train …` command), `license`,
    `notes`, `evaluation` (which split chose the weights and which reports them:
    `zoo.weights.card.Evaluation`'s fields). The directory is written next to its target and renamed into place, so a failure
    leaves nothing half-written; an existing bundle is replaced only with `overwrite=True`.
    """
    model = unwrap(model)
    qualified, config = identity(model)
    doc = _bundle_doc(qualified, config, dict(tag=tag, data=data, metrics=metrics or {}, command=command,
                                               license=license, notes=notes, evaluation=evaluation,
                                               preprocessing=_preprocessing(config, preprocessing)))
    tensors, aliases = _tensors_for_saving(model)
    meta = _metadata(doc.qualified_name, doc.config, aliases)
    return _write_bundle(Path(directory), doc, lambda path: save_tensors(tensors, path, meta), overwrite)


def _write_bundle(target: Path, doc: BundleConfig, write_weights: Any, overwrite: bool) -> Path:
    """Write the three files into a temp directory beside `target`, then rename it into place."""
    _check_target(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write_weights(tmp / WEIGHTS_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(doc.model_dump(mode="json"), indent=2) + "\n")
        _write_card(tmp, doc)
        _move_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _bundle_doc(qualified: str, config: Any, card: dict[str, Any]) -> BundleConfig:
    import zoo
    from zoo.names import resolve

    spec, _ = resolve(qualified)
    cfg = config_dict(config)
    try:
        return BundleConfig(zoo_version=zoo.__version__, plugin=spec.plugin.name, plugin_version=spec.plugin.version,
                            model=spec.name, config=cfg, config_hash=config_hash(cfg), **card)
    except ValidationError as err:
        first = err.errors()[0]
        raise WeightsError(f"bad model card field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _preprocessing(config: Any, given: Preprocessing | dict[str, Any] | None) -> Preprocessing | None:
    """The given preprocessing, with input size and channels taken from the config when absent."""
    fields = given.model_dump(exclude_none=True) if isinstance(given, Preprocessing) else dict(given or {})
    try:
        shape = config.input_shape()
    except NotImplementedError:
        shape = ()
    if len(shape) == 3:
        fields.setdefault("in_chans", shape[0])
        fields.setdefault("input_size", shape[1:])
    return Preprocessing(**fields) if fields else None


def _tensors_for_saving(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """CPU, contiguous tensors; a tensor tied under several names is stored once (aliases recorded)."""
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    storages: set[int] = set()
    for name, t in model.state_dict().items():
        t = t.detach()
        ptr = t.untyped_storage().data_ptr() if t.numel() else 0
        key = (ptr, t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)
        if ptr and key in seen:
            aliases[name] = seen[key]
            continue
        # A view into storage another tensor already uses must be copied: safetensors refuses shared memory.
        shared = ptr != 0 and ptr in storages
        tensors[name] = t.to("cpu").clone() if shared else t.to("cpu").contiguous()
        seen[key] = name
        storages.add(ptr)
    return tensors, aliases


def save_weights_file(model: nn.Module, path: str | Path) -> None:
    """One self-describing .safetensors file (no card): tensors plus model name and config in the metadata."""
    model = unwrap(model)
    qualified, config = identity(model)
    tensors, aliases = _tensors_for_saving(model)
    save_tensors(tensors, path, _metadata(qualified, config_dict(config), aliases))


def _metadata(qualified: str, config: dict[str, Any], aliases: dict[str, str]) -> dict[str, str]:
    meta = {"format": "pt", META_MODEL: qualified, META_HASH: config_hash(config),
            META_CONFIG: json.dumps(config, sort_keys=True)}
    if aliases:
        meta[META_ALIASES] = json.dumps(aliases, sort_keys=True)
    return meta


def _write_card(directory: Path, doc: BundleConfig) -> None:
    from zoo.names import resolve

    spec, _ = resolve(doc.qualified_name)
    weights = directory / WEIGHTS_FILE
    card = render_card(doc, spec.entry.summary, spec.entry.paper, sha256_file(weights), weights.stat().st_size)
    (directory / CARD_FILE).write_text(card)


def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise WeightsError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise WeightsError(f"{target} already exists and is not empty; pass overwrite=True to replace it")


def _move_into_place(tmp: Path, target: Path) -> None:
    """Rename the finished bundle into place; a replaced one is removed only after the rename."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- reading


@dataclass
class Weights:
    """Tensors read from a bundle or a lone .safetensors file, with what they say about themselves."""

    source: str
    tensors: dict[str, torch.Tensor]
    model: str | None
    config: dict[str, Any] | None
    config_hash: str | None
    bundle: BundleConfig | None = None


def read_weights(source: str | Path) -> Weights:
    """Read a bundle directory, a zoo .safetensors file, an `hf://` URL or a pretrained tag."""
    from zoo.hub import fetch_bundle, is_hub_url

    text = str(source)
    if is_hub_url(text):
        return read_bundle(fetch_bundle(text), text)
    path = Path(source)
    if path.is_dir():
        return read_bundle(path, text)
    if path.is_file():
        return _read_file(path)
    if isinstance(source, str) and "." in source and "/" not in source and path.suffix not in _FILE_SUFFIXES:
        return _read_tag(source)
    raise WeightsError(f"{text}: no such bundle directory, weights file or pretrained tag")


def read_transfer_weights(source: str | Path) -> Weights:
    """What `train.init_from` names: anything `read_weights` reads, and also a torchvision or timm state dict
    (a .pth/.pt/.bin checkpoint read with weights_only, a .safetensors file without zoo metadata, or an
    hf://org/repo that is a timm model repo rather than a zoo bundle), renamed to the zoo's module names
    (`zoo.convert.to_zoo_names`); such weights name no model or config."""
    from zoo.hub import fetch_bundle, is_hub_url

    text = str(source)
    if is_hub_url(text):
        directory = fetch_bundle(text)
        return read_bundle(directory, text) if _is_zoo_bundle(directory) else _foreign(directory / WEIGHTS_FILE, text)
    path = Path(source)
    if path.is_file() and path.suffix in _TORCH_SUFFIXES:
        return _foreign(path, text)
    weights = read_weights(source)
    if weights.model is None:  # a .safetensors file the zoo did not write
        return _foreign(path, text, weights.tensors)
    return weights


_TORCH_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt"}


def _is_zoo_bundle(directory: Path) -> bool:
    try:
        doc = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and doc.get("format") == "zoo-bundle"


def _foreign(path: Path, source: str, tensors: dict[str, torch.Tensor] | None = None) -> Weights:
    from zoo.convert import read_state_dict, to_zoo_names

    return Weights(source, to_zoo_names(tensors if tensors is not None else read_state_dict(path)), None, None, None)


# Names ending so are files that are missing, never pretrained tags.
_FILE_SUFFIXES = {".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".onnx"}


def read_bundle(directory: Path, source: str) -> Weights:
    doc = read_bundle_config(directory)
    if not (directory / WEIGHTS_FILE).is_file():
        raise WeightsError(f"{directory}: not a bundle ({WEIGHTS_FILE} is missing)")
    header, tensors = load_tensors(directory / WEIGHTS_FILE)
    meta = header.metadata
    if (meta.get(META_MODEL), meta.get(META_HASH)) != (doc.qualified_name, doc.config_hash):
        raise WeightsError(f"{directory}: {CONFIG_FILE} ({doc.qualified_name}) and {WEIGHTS_FILE} "
                           f"({meta.get(META_MODEL, 'no zoo metadata')}) do not belong together")
    return Weights(source, _expand_aliases(tensors, meta), doc.qualified_name, doc.config, doc.config_hash, doc)


def _read_file(path: Path) -> Weights:
    header, tensors = load_tensors(path)
    meta = header.metadata
    config = None
    if META_CONFIG in meta:
        try:
            config = json.loads(meta[META_CONFIG])
        except (ValueError, RecursionError):
            raise WeightsError(f"{path}: metadata {META_CONFIG} is not valid JSON") from None
        if not isinstance(config, dict) or config_hash(config) != meta.get(META_HASH):
            raise WeightsError(f"{path}: metadata {META_CONFIG} does not match its {META_HASH}")
    return Weights(str(path), _expand_aliases(tensors, meta), meta.get(META_MODEL), config, meta.get(META_HASH))


def _read_tag(name: str) -> Weights:
    from zoo.weights.tags import find_tag, locate

    ref = find_tag(name)
    weights = read_bundle(locate(ref), name)
    if weights.model != ref.spec.qualified_name:
        raise WeightsError(f"{name}: the bundle at {ref.location} holds weights of {weights.model}, "
                           f"not {ref.spec.qualified_name}")
    return weights


def _expand_aliases(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> dict[str, torch.Tensor]:
    if META_ALIASES not in meta:
        return tensors
    try:
        aliases = json.loads(meta[META_ALIASES])
        return {**tensors, **{alias: tensors[kept] for alias, kept in aliases.items()}}
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError):
        raise WeightsError(f"safetensors metadata {META_ALIASES} is malformed") from None


# ---------------------------------------------------------------- loading


def from_pretrained(source: str | Path, *, strict: bool = True, adapt_head: bool = False, **overrides: Any) -> nn.Module:
    """Rebuild a model from a bundle (directory, `hf://org/repo[@rev]`, or tag `name.tag`), load it, eval mode.

    `overrides` change config fields before building (e.g. `num_classes=5` with
    `adapt_head=True` to fine-tune on five classes: the head is left freshly initialised).
    """
    return _build_and_load(read_weights(source), strict=strict, adapt_head=adapt_head, overrides=overrides)


def load(name: str, *, strict: bool = True, adapt_head: bool = False, **overrides: Any) -> nn.Module:
    """A pretrained model by tag (`lenet5.mnist`; a bare `lenet5` means its first tag) or `hf://` URL, in eval mode.

    Shipped bundles are read from the installed package, offline; their sha256 is checked on
    every load.
    """
    from zoo.hub import is_hub_url
    from zoo.weights.tags import find_tag

    if is_hub_url(name):
        return from_pretrained(name, strict=strict, adapt_head=adapt_head, **overrides)
    weights = _read_tag(find_tag(name).name)
    weights.source = name
    return _build_and_load(weights, strict=strict, adapt_head=adapt_head, overrides=overrides)


def _build_and_load(weights: Weights, *, strict: bool, adapt_head: bool, overrides: dict[str, Any]) -> nn.Module:
    from zoo.building import build, config_for

    if weights.model is None or weights.config is None:
        raise WeightsError(f"{weights.source}: carries no zoo model name and config, so the model cannot be "
                           "rebuilt; build it and use zoo.weights.bundle.load_weights")
    spec = _spec_for(weights)
    model = build(spec, config_for(spec, {**weights.config, **overrides}))
    load_into(model, weights.tensors, source=weights.source, strict=strict, adapt_head=adapt_head)
    model.zoo_bundle = weights.bundle
    return model.eval()


def _spec_for(weights: Weights) -> Any:
    from zoo.names import resolve

    try:
        return resolve(weights.model)[0]
    except UnknownModelError:
        raise WeightsError(f"{weights.source}: holds weights of {weights.model}, which no installed plugin provides") from None


def load_weights(model: nn.Module, source: str | Path, *, strict: bool = True, adapt_head: bool = False,
                 allow_config_mismatch: bool = False) -> nn.Module:
    """Load a bundle's (or zoo .safetensors file's) weights into an existing zoo model.

    Refused when the weights belong to another model, or were saved with another config
    (unless `allow_config_mismatch=True`, or `adapt_head=True` and only num_classes differs).
    """
    target = unwrap(model)
    qualified, config = identity(target)
    weights = read_weights(source)
    if weights.model is not None and weights.model != qualified:
        raise WeightsError(f"{weights.source} holds weights of {weights.model}, not {qualified}")
    own = config_dict(config)
    if weights.config_hash is not None and config_hash(own) != weights.config_hash and not allow_config_mismatch:
        differ = _differing_fields(own, weights.config)
        if not (adapt_head and differ == ["num_classes"]):
            raise WeightsError(f"{weights.source} was saved with a different {qualified} config "
                               f"(differs in: {', '.join(differ) or 'unknown fields'}); "
                               "pass allow_config_mismatch=True to load anyway")
    load_into(target, weights.tensors, source=weights.source, strict=strict, adapt_head=adapt_head)
    return model


def _differing_fields(own: dict[str, Any], saved: dict[str, Any] | None) -> list[str]:
    if saved is None:
        return []
    return sorted(k for k in own.keys() | saved.keys() if own.get(k) != saved.get(k))


def check(source: str | Path, *, expect: str | None = None, adapt_head: bool = False, **overrides: Any) -> nn.Module | None:
    """Load `source` completely and strictly, treating NaN/Inf weights as an error (for verify and export).

    `expect` names the model the weights must belong to. Returns the rebuilt model, or None for
    a .safetensors file that carries no zoo model name and config (its tensors are still checked).
    """
    from zoo.names import resolve
    from zoo.weights.fit import nonfinite

    weights = read_weights(source)
    if expect is not None:
        wanted = resolve(expect)[0].qualified_name
        if weights.model != wanted:
            raise WeightsError(f"{weights.source} holds weights of {weights.model or 'an unknown model'}, not {wanted}")
    bad = nonfinite(weights.tensors)
    if bad:
        raise WeightsError(f"{weights.source}: NaN/Inf weights in {', '.join(bad[:5])}"
                           + (f", +{len(bad) - 5} more" if len(bad) > 5 else ""))
    if weights.model is None or weights.config is None:
        return None
    return _build_and_load(weights, strict=True, adapt_head=adapt_head, overrides=overrides)


def package(source: str | Path, out: str | Path, *, tag: str, metrics: dict[str, float] | None = None,
            license: str = "", notes: str | None = None, measured_by: str = "", overwrite: bool = False) -> Path:
    """Re-issue a bundle (e.g. a training run's) as a tagged, shippable one with measured metrics.

    The weights must load strictly and be finite; the weights file is copied byte for byte (so
    its sha256 is the run's); data, preprocessing and the training command carry over, and
    `metrics` (from `zoo eval`) join those the run measured. `notes` replaces the run's notes;
    `measured_by` (how the metrics were measured) is appended to them.
    """
    if not Path(source).is_dir():
        raise WeightsError(f"{source}: not a bundle directory; package needs one (with its model card)")
    weights = read_weights(source)
    assert weights.bundle is not None
    check(source)
    doc = weights.bundle
    card_notes = " ".join(x for x in (doc.notes if notes is None else notes, measured_by) if x)
    fields = {**doc.model_dump(), "tag": tag, "metrics": {**doc.metrics, **(metrics or {})},
              "license": license or doc.license, "notes": card_notes}
    try:
        tagged = BundleConfig.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        raise WeightsError(f"bad model card field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return _write_bundle(Path(out), tagged, lambda path: shutil.copyfile(Path(source) / WEIGHTS_FILE, path), overwrite)
