"""The plugin manifest schema (versions 1, 2 and 3).

A plugin is a manifest file (YAML) shipped inside a Python package and announced through
the `zoo.plugins` entry point as `"package:manifest.yaml"`. Listing reads manifests only;
the code named by `config` and `builder` is imported when a model is built.

Version 2 adds `extractors:`, the feature extractors that generative metrics run on, and
`text_encoders:`, what text-to-image models turn prompts into embeddings with; the code named
by an entry's `code` is imported when it is used.
A version-1 manifest is read as before and provides no extractors.

Version 3 adds the contributions that open the core: `tasks:` (what it means to train,
evaluate and sample a kind of model), `objectives:` (adversarial losses a GAN config picks by
name) and `datasets:` (a dataset class: info, cache layout, fetch, reader). Each entry is a
`name`, a one-line `summary` and `code: "module:attr"`, imported only when used. A model's
`task` is any registered task's name; the registry checks it when the plugins are discovered.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_NAME = r"^[a-z][a-z0-9_]*$"
_DASHED_NAME = r"^[a-z][a-z0-9_-]*$"  # tasks and datasets read as words: text-to-image, fashion-mnist
_CODE_REF = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"  # 'module:attr'; checked in Rust, no Python per entry


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class PluginInfo(_Strict):
    name: str = Field(description="Plugin name; qualifies its models as 'plugin:model'.", pattern=r"^[a-z][a-z0-9_-]*$")
    version: str = Field(description="Plugin version (shown by `zoo plugins`).")
    description: str = Field("", description="One line about the plugin.")


class PretrainedTag(_Strict):
    tag: str = Field(description="Weights tag, used as 'model.tag' (e.g. 'mnist').", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    path: str | None = Field(None, description="Bundle directory, relative to the manifest file (shipped weights).")
    url: str | None = Field(None, description="Remote bundle, e.g. 'hf://org/repo@revision'.")
    sha256: str = Field(description="sha256 of the bundle's model.safetensors, checked on every load.", pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(None, ge=0, description="Size of model.safetensors in bytes.")
    data: str = Field("", description="Dataset the weights were trained on.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Measured metrics (by `zoo eval`).")

    @model_validator(mode="after")
    def _one_location(self) -> PretrainedTag:
        if (self.path is None) == (self.url is None):
            raise ValueError("a pretrained tag needs exactly one of 'path' or 'url'")
        return self


class ModelEntry(_Strict):
    name: str = Field(description="Model name, unique within the plugin (lower case, digits, '_').", pattern=_NAME)
    task: str = Field(description="What the model does: the name of a registered task (`zoo list --tasks`), which "
                                  "picks the training, evaluation and sampling code.", pattern=_DASHED_NAME)
    family: str = Field(description="Family the model belongs to (e.g. 'vgg').", pattern=_NAME)
    summary: str = Field(description="One line about the model.")
    paper: str = Field("", description="The paper it follows: authors, year, title.")
    input_size: int = Field(description="Default input height and width.", ge=1)
    in_chans: int = Field(description="Default input channels.", ge=1)
    config: str = Field(description="Config class as 'module:Class' (imported lazily).", pattern=_CODE_REF)
    builder: str = Field(description="Callable taking the config and returning the nn.Module, as 'module:attr'.",
                         pattern=_CODE_REF)
    defaults: dict[str, object] = Field(default_factory=dict, description="Config values that make this variant.")
    pretrained: tuple[PretrainedTag, ...] = Field((), description="Pretrained weights tags.")

    @field_validator("pretrained")
    @classmethod
    def _unique_tags(cls, v: tuple[PretrainedTag, ...]) -> tuple[PretrainedTag, ...]:
        tags = [t.tag for t in v]
        dup = sorted({t for t in tags if tags.count(t) > 1})
        if dup:
            raise ValueError(f"duplicate pretrained tags: {', '.join(dup)}")
        return v


class FamilyEntry(_Strict):
    name: str = Field(description="Family name; `zoo build NAME` with it picks `default`.", pattern=_NAME)
    default: str = Field(description="The member a bare family name resolves to.")
    summary: str = Field("", description="One line about the family.")
    paper: str = Field("", description="The family's paper.")


class ExtractorEntry(_Strict):
    name: str = Field(description="Extractor name, used as `--extractor NAME` (lower case, digits, '_').", pattern=_NAME)
    kind: Literal["features", "text"] = Field(
        "features", description="'features': images -> feature rows (and class probabilities); 'text': prompts -> embeddings.")
    summary: str = Field(description="One line about the extractor.")
    code: str = Field(description="Callable taking the weights (the entry's tag, or the user's file) and returning "
                                   "the extractor module, as 'module:attr' (imported lazily).", pattern=_CODE_REF)
    input_size: int = Field(description="Height and width the network sees; inputs are padded or resized to it.", ge=1)
    in_chans: int = Field(description="Channels the network sees; grey inputs are repeated to match.", ge=1)
    num_features: int = Field(description="Width of one feature row (FID, KID, MMD, 1-NN, Wasserstein, precision/recall).",
                              ge=1)
    num_classes: int | None = Field(None, ge=2, description="Classes of its probabilities (IS, Mode Score); "
                                                            "none: it gives features only.")
    weights: str | None = Field(None, description="Pretrained tag 'model.tag' holding its weights; none: the user "
                                                  "must supply a weights file (never downloaded), unless `package` "
                                                  "ships them.")
    package: str | None = Field(None, description="Python distribution that ships its weights (installed, never "
                                                  "downloaded at run time); the factory then gets None and finds "
                                                  "them itself.")


class TextEncoderEntry(_Strict):
    name: str = Field(description="Text encoder name, used as a text-to-image model's `text_encoder` (lower case, "
                                   "digits, '_').", pattern=_NAME)
    summary: str = Field(description="One line about the encoder.")
    code: str = Field(description="Callable taking the entry and returning the encoder module (prompts -> embeddings), "
                                   "as 'module:attr' (imported lazily).", pattern=_CODE_REF)
    dim: int = Field(description="Length of one embedding.", ge=1)
    trainable: bool = Field(False, description="Whether its parameters train with the model (and live in its "
                                               "bundle); a pretrained encoder stays frozen and outside the bundle.")
    package: str | None = Field(None, description="Python distribution that ships its weights (installed, never "
                                                  "downloaded at run time); none: it needs no files.")


class ContributionEntry(_Strict):
    """A task, objective or dataset a plugin contributes (schema version 3)."""

    name: str = Field(description="Name it is used by (a model's `task`, a GAN config's `objective`, `--data NAME`).",
                      pattern=_DASHED_NAME)
    summary: str = Field(description="One line about it.")
    code: str = Field(description="What implements it, as 'module:attr' (imported only when used): a task class, "
                                   "an objective class, a dataset class.", pattern=_CODE_REF)


class ObjectiveEntry(ContributionEntry):
    name: str = Field(description="Objective name, used as a GAN config's `objective` (lower case, digits, '_').",
                      pattern=_NAME)


# manifest section -> entry class, for the contribution kinds of schema version 3
CONTRIBUTIONS = {"tasks": ContributionEntry, "objectives": ObjectiveEntry, "datasets": ContributionEntry}


class Manifest(_Strict):
    schema_version: Literal[1, 2, 3] = Field(description="Manifest schema version; this zoo reads versions 1, 2 "
                                                         "(adds `extractors`, `text_encoders`) and 3 (adds `tasks`, "
                                                         "`objectives`, `datasets`).")
    plugin: PluginInfo
    families: tuple[FamilyEntry, ...] = Field((), description="Families with a default member.")
    models: tuple[ModelEntry, ...] = Field(description="The models this plugin provides.")
    extractors: tuple[ExtractorEntry, ...] = Field((), description="Feature extractors and text encoders for "
                                                                   "generative metrics (schema version 2).")
    text_encoders: tuple[TextEncoderEntry, ...] = Field((), description="Text encoders that text-to-image models "
                                                                        "condition on (schema version 2).")
    tasks: tuple[ContributionEntry, ...] = Field((), description="Tasks: training, evaluation and sampling of a kind "
                                                                 "of model (schema version 3).")
    objectives: tuple[ObjectiveEntry, ...] = Field((), description="Adversarial objectives GAN configs pick by name "
                                                                   "(schema version 3).")
    datasets: tuple[ContributionEntry, ...] = Field((), description="Datasets: info, cache layout, fetch and reader "
                                                                    "(schema version 3).")

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        names = [m.name for m in self.models]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"model names listed twice: {', '.join(dup)}")
        by_name = {m.name: m for m in self.models}
        for fam in self.families:
            member = by_name.get(fam.default)
            if member is None or member.family != fam.name:
                raise ValueError(f"family '{fam.name}': default '{fam.default}' is not one of its models")
        if self.extractors and self.schema_version < 2:
            raise ValueError("'extractors' needs schema_version: 2")
        if self.text_encoders and self.schema_version < 2:
            raise ValueError("'text_encoders' needs schema_version: 2")
        for section in CONTRIBUTIONS:
            if getattr(self, section) and self.schema_version < 3:
                raise ValueError(f"'{section}' needs schema_version: 3")
        for section in ("text_encoders", "extractors", *CONTRIBUTIONS):
            names = [e.name for e in getattr(self, section)]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{section.replace('_', ' ')[:-1]} names listed twice: {', '.join(dup)}")
        return self
