"""The run config: one validated document of three sections, `model`, `data` and `train` (torch-free).

    model:  {name: "zoo:lenet5", config: {...the model family's config...}}
    data:   {...zoo.data.DataConfig...}
    train:  {...TrainConfig...}

Layers, later ones winning: TrainConfig's defaults (the modern LeNet-5 recipe), the model
config's `train_defaults()` and `data_defaults()` if it defines them (a plugin's recipe for
its model, e.g. un-normalised pixels for a classifier on autoencoder codes), a config
file (a whole run document, or a bare model config), the CLI's flags (`--epochs`, `--lr`,
...), then `--set` assignments.

`--set` keys address sections: `train.lr=0.1`, `data.name=cifar10`, `model.num_classes=5`
(short for `model.config.num_classes`). A bare key (`lr=0.1`, `num_classes=5`) goes to the one
section that has such a field; a key found in several sections is refused with the choices.

Unless some layer sets `data.val_size`, a run's is `auto`: a seeded, class-stratified tenth of
the training split (at most 5,000 examples, `zoo.data.holdout`) is held out as 'val', which
every per-epoch evaluation, the best weights and early stopping use; the test split is read
once, at the end, and only reported. `data.val_size=0` chooses on the test split, as before.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializeAsAny, field_validator, model_validator

from zoo.config import ModelConfig, ZooConfig, apply_overrides, parse_assignment, validate_config
from zoo.data.config import DataConfig
from zoo.data.holdout import AUTO
from zoo.errors import ConfigError

Optimizer = Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]
Scheduler = Literal["cosine", "step", "multistep", "poly", "tanh", "wsd", "constant", "none"]
Logger = Literal["jsonl", "tensorboard", "mlflow", "wandb", "csv"]
SECTIONS = ("model", "data", "train")


class ModuleOptim(ZooConfig):
    """One module's optimizer settings; an unset field takes the train section's value."""

    optimizer: Optimizer | None = Field(None, description="This module's optimizer (default: train.optimizer).")
    lr: float | None = Field(None, gt=0, description="This module's peak learning rate (default: train.lr).")
    betas: tuple[float, float] | None = Field(None, description="Adam-family betas (default: train.betas).")
    momentum: float | None = Field(None, ge=0, lt=1, description="Momentum (default: train.momentum).")
    weight_decay: float | None = Field(None, ge=0, description="Weight decay (default: train.weight_decay).")

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        return _check_betas(v)


def _check_betas(v: tuple[float, float] | None) -> tuple[float, float] | None:
    if v is not None and not all(0.0 <= b < 1.0 for b in v):
        raise ValueError(f"betas must each be in [0, 1), got {list(v)}")
    return v


class TrainConfig(ZooConfig):
    """How to train. The defaults are the recipe that takes the modern LeNet-5 past 99.1% on MNIST."""

    epochs: int = Field(6, ge=1, description="Passes over the training split.")
    batch_size: int = Field(256, ge=1, description="Examples per optimizer step, summed over all processes.")
    optimizer: Optimizer = Field("adamw", description="sgd (no momentum), momentum, nesterov, adagrad, rmsprop, adam, adamw (timm.optim).")
    lr: float = Field(4e-3, gt=0, description="Peak learning rate.")
    momentum: float = Field(0.9, ge=0, lt=1, description="Momentum of momentum/nesterov/rmsprop.")
    betas: tuple[float, float] | None = Field(None, description="Adam-family (beta1, beta2); None: the optimizer's default (0.9, 0.999).")
    weight_decay: float = Field(0.05, ge=0, description="Weight decay (decoupled for adamw).")
    scheduler: Scheduler = Field("cosine", description="Learning-rate schedule from timm.scheduler, stepped every update.")
    warmup_epochs: float = Field(0.3, ge=0, description="Linear warm-up, in epochs (fractions allowed).")
    min_lr: float = Field(0.0, ge=0, description="Learning rate the schedule decays to.")
    decay_epochs: float = Field(30, gt=0, description="Step schedule: epochs between decays.")
    decay_milestones: list[int] = Field(default_factory=lambda: [30, 60, 90], description="Multistep schedule: epochs to decay at.")
    decay_rate: float = Field(0.1, gt=0, description="Step/multistep: lr factor per decay; poly: the power.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing of the classification loss.")
    grad_clip: float | None = Field(None, gt=0, description="Clip the gradient norm to this value.")
    early_stop: int | None = Field(None, ge=1, description="Stop after this many evaluations without improvement (patience).")
    seed: int = Field(0, description="Seeds initialisation, data order and dropout; same seed, same run.")
    eval_every: int = Field(1, ge=1, description="Evaluate every this many epochs (and after the last).")
    log_every: int = Field(50, ge=1, description="Write a step record to metrics.jsonl every this many steps.")
    checkpoint_every: int = Field(200, ge=0, description="Save a resumable checkpoint every this many steps (0: at epoch ends only).")
    max_train_examples: int | None = Field(None, ge=1, description="Use only the first N training examples (for tests and quick looks).")
    labels_per_class: int | None = Field(None, ge=1, description="Train on a class-balanced labelled subset: N examples of each class, drawn with the seed (semi-supervised runs).")
    max_eval_examples: int | None = Field(None, ge=1, description="Evaluate on only the first N examples.")
    channels_last: bool = Field(False, description="Run convolutions in channels-last memory format.")
    threads: int | None = Field(None, ge=1, description="torch CPU threads per process (default: cores / processes).")
    device: str = Field("auto", description="auto (cuda if available), cpu, cuda, cuda:N.")
    precision: Literal["fp32", "bf16", "fp16", "tf32"] = Field(
        "fp32", description="fp32 (the reference: every shipped recipe, bit-identical resume on CPU); bf16 (autocast); "
        "fp16 (autocast, a GradScaler per optimizer); tf32 (fp32 with TF32 matmuls and convolutions on Ampere or "
        "later GPUs; fp32 on a CPU). See zoo.engine.precision.")
    compile: bool = Field(False, description="torch.compile the task's modules (the weights saved stay the "
                          "modules' own); a module that fails to compile stops the run naming it.")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = Field(
        "default", description="torch.compile's mode, with train.compile.")
    init_from: str | None = Field(None, description="Start from these weights: a zoo bundle or weights file, a pretrained tag, "
                                  "hf://org/repo (a zoo bundle, or a timm model repo such as hf://timm/vgg16.tv_in1k), or "
                                  "a torchvision/timm checkpoint file (.pth, .safetensors); a fresh head when "
                                  "num_classes differs.")
    eval_extractor: str = Field("lenet5_mnist", description="GANs: the feature extractor (`zoo list --extractors`) "
                                "whose features score FID each evaluation and whose classes give the coverage.")
    eval_extractor_weights: str | None = Field(None, description="GANs: LeNet-5 weights (a lenet5 bundle or file, e.g. "
                                               "one trained on the run's dataset) whose features score FID each "
                                               "evaluation and whose classes give the coverage; default lenet5.mnist.")
    freeze: list[str] = Field(default_factory=list, description="Module names whose parameters stay fixed (e.g. features).")
    unfreeze_at: int | None = Field(None, ge=1, description="Two-phase fine-tuning: the `freeze` modules stay fixed for "
                                    "this many epochs (the head trains alone), then every parameter trains, at "
                                    "unfreeze_lr_factor times the learning rate.")
    unfreeze_lr_factor: float = Field(0.1, gt=0, le=1, description="With unfreeze_at: the factor on every learning rate "
                                      "(schedule included) once everything trains.")
    optim: dict[str, ModuleOptim] = Field(default_factory=dict, description="Per-module optimizer settings, keyed by "
                                          "the task's module names (a GAN: generator, discriminator), e.g. "
                                          "train.optim.discriminator.lr=1e-4, or by a submodule of one (a classifier's "
                                          "features and classifier: train.optim.features.lr=1e-4 gives the backbone "
                                          "its own learning rate in the module's optimizer); unset fields follow "
                                          "this section.")
    loggers: list[Logger] = Field(default_factory=lambda: ["jsonl"], description="Where metrics go: jsonl (always), "
                                  "tensorboard, mlflow, wandb (offline unless WANDB_MODE says otherwise), csv; each "
                                  "but jsonl and csv is a zoo extra (zoo.engine.loggers).")

    @field_validator("loggers")
    @classmethod
    def _jsonl_always(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(["jsonl", *v]))

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        return _check_betas(v)

    @model_validator(mode="after")
    def _unfreeze_needs_a_frozen_part(self) -> TrainConfig:
        if self.unfreeze_at is not None and not self.freeze:
            raise ValueError("train.unfreeze_at needs train.freeze (--freeze): the modules that stay fixed until then")
        if self.unfreeze_at is not None and self.unfreeze_at >= self.epochs:
            raise ValueError(f"train.unfreeze_at={self.unfreeze_at} must be below train.epochs={self.epochs}, "
                             "or the frozen modules never train")
        return self

    def optim_for(self, module: str) -> ModuleOptim:
        """The settings of `module`'s optimizer: its own entry over this section's values."""
        own = self.optim.get(module, ModuleOptim()).model_dump(exclude_none=True)
        base = {k: getattr(self, k) for k in ModuleOptim.model_fields}
        return ModuleOptim(**{**base, **own})


class ModelSection(ZooConfig):
    name: str = Field(description="The model, as `plugin:model`.")
    config: SerializeAsAny[ModelConfig] = Field(description="The model family's config, an instance of its config "
                                                            "class (validated once, from a dict, by that class).")

    @model_validator(mode="before")
    @classmethod
    def _typed_config(cls, data: Any) -> Any:
        """A dict `config` (a config file, config.yaml) becomes the model's own config class, validated once."""
        if isinstance(data, dict) and isinstance(data.get("config"), dict) and isinstance(data.get("name"), str):
            from zoo.building import config_for
            from zoo.names import resolve

            data = {**data, "config": config_for(resolve(data["name"])[0], data["config"])}
        return data


class RunConfig(ZooConfig):
    """A run's whole config; `config.yaml` in the run directory. After `compose` every section is its own
    validated class (the model's config class, DataConfig, TrainConfig): nothing re-validates them later."""

    model: ModelSection
    data: DataConfig = Field(description="Which dataset the run reads and how its images meet the model.")
    train: TrainConfig = Field(default_factory=TrainConfig)


def compose(
    model_name: str,
    file_doc: dict[str, Any] | None = None,
    flags: dict[str, Any] | None = None,
    sets: list[str] | None = None,
    data_name: str | None = None,
    notes: list[str] | None = None,
) -> RunConfig:
    """The validated run config for `model_name` from a config file's dict, train flags, `--data` and `--set`s.

    Where the model config was left unset, it is fitted to the data (see `_fit_to_data`); what
    changed is appended to `notes`.
    """
    from zoo.api import config_class, resolve
    from zoo.data import DataConfig

    spec, _ = resolve(model_name)
    model_cls = config_class(spec)
    doc = _sectioned(file_doc or {}, model_cls)
    doc["train"] = {**_recipe(spec, "train_defaults"), **doc["train"], **{k: v for k, v in (flags or {}).items() if v is not None}}
    recipe_data = _recipe(spec, "data_defaults")
    recipe_augment = recipe_data.pop("augment", None)  # applied after fitting, where it fits (_fit_augmentation)
    doc["data"] = {**recipe_data, **doc["data"]}
    if data_name is not None:
        doc["data"]["name"] = data_name
    fields = {"model": set(model_cls.model_fields), "data": set(DataConfig.model_fields), "train": set(TrainConfig.model_fields)}
    doc = apply_overrides(doc, [_route(s, fields) for s in sets or []])
    if isinstance(doc.get("data"), dict):  # a run holds out its validation split unless told otherwise (zoo.data.holdout)
        doc["data"].setdefault("val_size", AUTO)
    data = validate_config(DataConfig, doc.get("data", {}), "data config")
    notes = notes if notes is not None else []
    model_config = _fit_to_data(spec, doc.get("model", {}).get("config", {}), data, notes)
    if "augment" not in doc.get("data", {}):  # no file, flag or --set chose it
        data = _fit_augmentation(spec, recipe_augment, data, model_config, notes)
    train = validate_config(TrainConfig, doc.get("train", {}), "train config")
    return RunConfig(model=ModelSection(name=spec.qualified_name, config=model_config), data=data, train=train)


def _fit_to_data(spec: Any, model_doc: dict[str, Any], data: Any, notes: list[str]) -> Any:
    """The model config, meeting the dataset where the user left the fields unset.

    num_classes and in_chans follow the dataset. image_size follows it too when the model's
    default is more than twice the data's side (VGG's 224 against MNIST's 28: upsampling 8x
    would cost 60x the compute and add nothing): it becomes 32 (small images are padded to 32,
    as LeNet-5 does) or the data's side if larger. A model that cannot take the smaller input
    keeps its default size. An image folder is measured first (`ImageSet.known_info`: its class
    directories, and grey or RGB and the typical side from a few image headers).
    """
    from zoo.api import config_for
    from zoo.config import ConfigError
    from zoo.data.catalog import dataset_for

    info = dataset_for(data.name, data).known_info()
    if not info.image_size:  # a plugin's dataset whose shape is known only from its files
        return config_for(spec, model_doc)
    default = config_for(spec).model_dump()
    fitted = dict(model_doc)
    classes = info.num_classes if info.num_classes > 1 else 0  # one class is the task's to refuse, not to fit
    for field, value in (("num_classes", classes), ("in_chans", info.in_chans)):
        if field in default and field not in model_doc and value and default[field] != value:
            fitted[field] = value
    size = info.image_size
    shrink = bool(size) and default.get("image_size", 0) > max(2 * size, 32)  # never to a no-op 32 -> 32
    if "image_size" in default and "image_size" not in model_doc and shrink:
        fitted["image_size"] = max(size, 32)
    changed = {k: v for k, v in fitted.items() if k not in model_doc}
    try:
        config = config_for(spec, fitted)
    except ConfigError:
        changed.pop("image_size", None)
        config = config_for(spec, {k: v for k, v in fitted.items() if k != "image_size" or k in model_doc})
    if changed:
        notes.append(f"{spec.name} fitted to {info.name}: " + ", ".join(f"{k} {default[k]} -> {v}" for k, v in changed.items())
                     + " (set model.<field> to choose otherwise)")
    return config


def _fit_augmentation(spec: Any, recipe: str | None, data: DataConfig, model_config: Any,
                      notes: list[str]) -> DataConfig:
    """data.augment from the model's recipe (`data_defaults()`, its paper's augmentation), where it applies.

    A dataset that declares `recipe_augmentation = False` (digits, which a mirror turns into
    another digit or none) keeps none. At a model input of 64 px or less the imagenet pipeline
    (random resized crops of large photographs) becomes flip-crop, the form CIFAR-10 recipes of
    these models use; with data.stream=false, which that per-image pipeline cannot run under, too.
    """
    from zoo.data.catalog import dataset_class

    if recipe in (None, "none") or not dataset_class(data.name).recipe_augmentation:
        return data
    try:
        side = max(model_config.input_shape()[1:])
    except NotImplementedError:
        side = 0
    augment, why = recipe, ""
    if recipe == "imagenet" and (side <= 64 or data.stream is False):
        augment = "flip-crop"
        why = f" (the CIFAR-10 form of its crops and flips at {side} px)" if side <= 64 else " (data.stream=false)"
    notes.append(f"{spec.name} recipe: data.augment={augment}{why}; set data.augment=none to train without")
    return validate_config(DataConfig, {**data.model_dump(), "augment": augment}, "data config")


def _sectioned(doc: dict[str, Any], model_cls: type) -> dict[str, Any]:
    """A config file's dict as {model: {config: ...}, data: ..., train: ...}; a bare model config is allowed."""
    if not any(key in doc for key in SECTIONS):
        return {"model": {"config": dict(doc)}, "data": {}, "train": {}}
    unknown = sorted(set(doc) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown config section(s) {', '.join(unknown)} (allowed: {', '.join(SECTIONS)})")
    model = doc.get("model") or {}
    if not isinstance(model, dict):
        raise ConfigError("config section 'model' must be a mapping")
    config = model.get("config", {k: v for k, v in model.items() if k != "name"})
    parts = {"model.config": config, "data": doc.get("data"), "train": doc.get("train")}
    for name, part in parts.items():
        if part is not None and not isinstance(part, dict):
            raise ConfigError(f"config section '{name}' must be a mapping, not {type(part).__name__}")
    return {"model": {"config": dict(config or {})}, "data": dict(doc.get("data") or {}), "train": dict(doc.get("train") or {})}


def _recipe(spec: Any, hook: str) -> dict[str, Any]:
    """A plugin's own recipe for the model's default config."""
    from zoo.api import config_for

    return recipe_of(config_for(spec), hook)


def recipe_of(config: Any, hook: str = "train_defaults") -> dict[str, Any]:
    """A model config's own recipe: its `train_defaults()` / `data_defaults()`, if it defines them."""
    recipe = getattr(config, hook, None)
    return dict(recipe()) if callable(recipe) else {}


def _route(assignment: str, fields: dict[str, set[str]]) -> str:
    """`lr=0.1` -> `train.lr=0.1`; `model.x=1` -> `model.config.x=1`; ambiguous bare keys are refused."""
    path, _ = parse_assignment(assignment)
    head, rest = path[0], path[1:]
    if head == "model" and rest and rest[0] != "config":
        return "model.config." + assignment.partition(".")[2]
    if head in SECTIONS:
        return assignment
    owners = [s for s in SECTIONS if head in fields[s]]
    if len(owners) == 1:
        prefix = "model.config." if owners[0] == "model" else owners[0] + "."
        return prefix + assignment
    if owners:
        raise ConfigError(f"--set {assignment}: '{head}' is a field of {' and '.join(owners)}; "
                          f"write {' or '.join(f'{o}.{head}' for o in owners)}")
    allowed = sorted(fields["model"] | fields["data"] | fields["train"])
    raise ConfigError(f"--set {assignment}: no field '{head}' in the model, data or train config "
                      f"(fields: {', '.join(allowed)})")


def to_yaml(config: RunConfig) -> str:
    import yaml

    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def differences(saved: RunConfig, asked: RunConfig) -> list[str]:
    """`section.field saved -> asked` for every field that differs (for refusing a mismatched resume)."""
    a, b = saved.model_dump(mode="json"), asked.model_dump(mode="json")
    out = []
    for section in SECTIONS:
        left, right = a[section], b[section]
        if section == "model":
            if left["name"] != right["name"]:
                out.append(f"model {left['name']} -> {right['name']}")
            left, right = left["config"], right["config"]
        for key in sorted(left.keys() | right.keys()):
            if left.get(key) != right.get(key):
                out.append(f"{section}.{key} {left.get(key)!r} -> {right.get(key)!r}")
    return out
