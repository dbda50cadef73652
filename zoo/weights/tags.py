"""Pretrained tags (`lenet5.mnist`): where their bundle lives and whether its bytes are the declared ones.

Tags are declared in manifests (`pretrained:` of a model entry) with the sha256 and size of
the bundle's model.safetensors; every load checks both. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zoo.errors import UnknownModelError
from zoo.manifest import PretrainedTag
from zoo.names import natural_key, resolve_tagged
from zoo.registry import ModelSpec, get_registry
from zoo.weights import WEIGHTS_FILE, WeightsError
from zoo.weights.safefile import sha256_file


@dataclass(frozen=True)
class TagRef:
    spec: ModelSpec
    tag: PretrainedTag

    @property
    def name(self) -> str:
        return f"{get_registry().display_name(self.spec)}.{self.tag.tag}"

    @property
    def location(self) -> str:
        """A bundle directory (shipped weights) or a remote URL."""
        if self.tag.path is not None:
            return str(self.spec.manifest_dir / self.tag.path)
        assert self.tag.url is not None
        return self.tag.url


def find_tag(name: str) -> TagRef:
    """'lenet5.mnist' (or 'plugin:lenet5.mnist', 'LeNet5.MNIST') -> TagRef; a bare model name picks its first tag."""
    found = resolve_tagged(name)
    if found.tag is not None:
        return TagRef(found.spec, found.tag)
    tags = found.spec.entry.pretrained
    if not tags:
        raise UnknownModelError(f"{found.spec.qualified_name} has no pretrained weights (see `zoo weights list`)")
    return TagRef(found.spec, tags[0])


def all_tags() -> list[TagRef]:
    reg = get_registry()
    refs = [TagRef(spec, t) for spec in reg.visible() for t in spec.entry.pretrained]
    return sorted(refs, key=lambda r: natural_key(r.name))


def verify_bundle_bytes(ref: TagRef, directory: Path) -> None:
    """The bundle's model.safetensors must have the declared size and sha256."""
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise WeightsError(f"{ref.name}: weights file {path} is missing")
    size = path.stat().st_size
    if ref.tag.size is not None and size != ref.tag.size:
        raise WeightsError(f"{ref.name}: {path} has {size:,} bytes, the manifest declares {ref.tag.size:,}")
    digest = sha256_file(path)
    if digest != ref.tag.sha256:
        raise WeightsError(f"{ref.name}: sha256 mismatch for {path}: got {digest}, the manifest declares {ref.tag.sha256}")


def locate(ref: TagRef) -> Path:
    """The checked bundle directory of a tag (remote tags are fetched through the Hugging Face cache)."""
    if ref.tag.path is not None:
        directory = Path(ref.location)
    else:
        from zoo.hub import fetch_bundle

        directory = fetch_bundle(ref.location)
    verify_bundle_bytes(ref, directory)
    return directory


def pick_weights(name: str | None, weights: str | None) -> tuple[str, str | None]:
    """What a command reads its weights from: `--weights`, else the pretrained tag in the name.

    Returns (weights source, model name the weights must belong to). `zoo sample lenet5.mnist`
    gives ('lenet5.mnist', 'lenet5.mnist'); `zoo sample lenet5 --weights DIR` gives (DIR, 'lenet5').
    """
    if weights is not None:
        if name is not None and resolve_tagged(name).tag is not None:
            raise WeightsError(f"'{name}' names pretrained weights and --weights gives {weights}: use one of them")
        return weights, name
    if name is None:
        raise WeightsError("which weights? name a pretrained tag (e.g. lenet5.mnist) or give --weights")
    found = resolve_tagged(name)
    if found.tag is None:
        tags = ", ".join(f"{found.tagged_name}.{t.tag}" for t in found.spec.entry.pretrained)
        offer = f"a pretrained tag ({tags}) or --weights" if tags else "--weights (it has no pretrained tags)"
        raise WeightsError(f"{found.tagged_name} needs weights: give {offer}")
    return found.tagged_name, name
