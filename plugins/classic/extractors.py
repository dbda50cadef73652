"""Feature extractors for generative metrics (manifest `extractors:`, schema version 2).

`lenet5_mnist`: the zoo's own LeNet-5 trained on MNIST (`lenet5.mnist`), the default for
28 x 28 and 32 x 32 grey images. Its F6 activations (84) are the features; its softmax over
the ten digits gives the class probabilities for IS and the Mode Score.

`inception_v3`: timm's Inception-v3 on weights the user supplies (a timm or torchvision state
dict as .safetensors or .pth, or a directory holding model.safetensors); never downloaded.
Its 2048 pooled features are the usual FID features; its 1000 ImageNet classes give IS.
Images are resized to 299 and grey ones repeated to three channels.
"""

from __future__ import annotations

from pathlib import Path

import torch

import zoo
from zoo.data import DATASETS, prepare_batch
from zoo.metrics import ExtractorError, FeatureExtractor

from zoo_plugins.classic.lenet import LeNet5


class LeNetFeatures(FeatureExtractor):
    num_features = 84
    num_classes = 10

    def __init__(self, model: LeNet5, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.model = model
        self.mean, self.std = mean, std
        self.input_size = model.config.image_size
        self.in_chans = model.config.in_chans

    def outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = prepare_batch(images, self.input_size, self.in_chans, self.mean, self.std)  # N x 1 x 32 x 32
        classifier = self.model.classifier
        features = classifier[:-1](self.model.features(x))  # F6: N x 84
        return features, classifier[-1](features)  # N x 10 logits


def lenet5_mnist(weights: str) -> LeNetFeatures:
    """LeNet-5 features on `weights`: the tag `lenet5.mnist` or another lenet5 bundle the user trained."""
    model = zoo.from_pretrained(weights)
    if not isinstance(model, LeNet5) or model.config.num_classes != LeNetFeatures.num_classes:
        raise ExtractorError(f"{weights}: extractor lenet5_mnist needs ten-class LeNet-5 weights, "
                             f"not {getattr(model, 'zoo_name', type(model).__name__)}")
    pre = model.zoo_bundle.preprocessing if model.zoo_bundle is not None else None
    mnist = DATASETS["mnist"]
    if pre is not None and pre.mean is not None:
        return LeNetFeatures(model, tuple(pre.mean), tuple(pre.std))
    return LeNetFeatures(model, mnist.mean, mnist.std)


class InceptionFeatures(FeatureExtractor):
    num_features = 2048
    num_classes = 1000
    input_size = 299
    in_chans = 3

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        cfg = model.pretrained_cfg
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1), persistent=False)

    def outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = prepare_batch(images, self.input_size, self.in_chans)  # N x 3 x 299 x 299 in [0, 1]
        x = (x - self.mean) / self.std
        features = self.model.forward_head(self.model.forward_features(x), pre_logits=True)  # N x 2048
        return features, self.model.get_classifier()(features)  # N x 1000 logits


def inception_v3(weights: str) -> InceptionFeatures:
    """timm's Inception-v3 built without weights, then loaded from the user's file."""
    import timm

    model = timm.create_model("inception_v3", pretrained=False)
    state = {k: v for k, v in read_state_dict(Path(weights)).items() if not k.startswith("AuxLogits.")}
    fc = state.get("fc.weight")
    if fc is not None and tuple(fc.shape) == (1008, 2048):
        raise ExtractorError(f"{weights}: fc has 1008 classes: an FID-Inception file; use --extractor inception_fid")
    wrong = [k for k, v in model.state_dict().items() if k in state and state[k].shape != v.shape]
    if wrong:
        raise ExtractorError(f"{weights}: not Inception-v3 weights ({wrong[0]} is {tuple(state[wrong[0]].shape)}, "
                             f"needs {tuple(model.state_dict()[wrong[0]].shape)})")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ExtractorError(f"{weights}: not Inception-v3 weights ({len(missing)} tensors missing, e.g. "
                             f"{(missing or ['-'])[0]}; {len(unexpected)} unexpected, e.g. {(unexpected or ['-'])[0]})")
    return InceptionFeatures(model.eval())


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file, a bundle directory, or a .pth state dict (read with weights_only)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = path / "model.safetensors" if path.is_dir() else path
    try:
        if path.suffix == ".safetensors":
            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, RuntimeError, OSError, ValueError, EOFError) as err:
        raise ExtractorError(f"{path}: cannot read weights ({type(err).__name__}: {str(err).splitlines()[0]})") from None
    except Exception as err:  # weights_only refuses pickled code with a pickle-specific error
        raise ExtractorError(f"{path}: not a plain state dict ({type(err).__name__})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ExtractorError(f"{path}: holds no state dict of tensors")
    return state
