"""Embeddings of a frozen text encoder, cached per caption under `$ZOO_HOME/cache/text/`.

One safetensors file per encoder and version: `embeddings` (V x dim), and its V captions as a
JSON list in the file's metadata, so rows and captions can never come from different writers.
It is rewritten (temp file + rename) when new captions were encoded; an interrupted process
leaves the previous file intact. Captions are matched exactly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch


class EmbeddingCache:
    """caption -> embedding row; `get(captions, encode)` encodes only the captions it has not seen."""

    def __init__(self, key: str, dim: int, directory: Path | None = None) -> None:
        from zoo.config import zoo_home

        self.dim = dim
        self.directory = Path(directory) if directory is not None else zoo_home() / "cache" / "text"
        self.path = self.directory / f"{key}.safetensors"
        self.rows: dict[str, int] = {}
        self.table = torch.empty(0, dim)
        self._read()

    def _read(self) -> None:
        from safetensors import safe_open

        try:
            with safe_open(str(self.path), "pt") as f:
                captions = json.loads(f.metadata()["captions"])
                table = f.get_tensor("embeddings")
        except Exception:  # absent or damaged (safetensors raises its own error types): start over
            return
        if table.shape == (len(captions), self.dim):
            self.rows, self.table = {c: i for i, c in enumerate(captions)}, table

    def get(self, captions: list[str], encode: Callable[[list[str]], torch.Tensor]) -> torch.Tensor:
        """len(captions) x dim; captions not cached yet go through `encode` once each and are saved."""
        missing = list(dict.fromkeys(c for c in captions if c not in self.rows))
        if missing:
            new = encode(missing).detach().float().cpu()
            self.rows.update({c: len(self.rows) + i for i, c in enumerate(missing)})
            self.table = torch.cat([self.table, new])
            self._write()
        return self.table[torch.tensor([self.rows[c] for c in captions], dtype=torch.long)]

    def _write(self) -> None:
        from safetensors.torch import save_file

        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        captions = json.dumps(sorted(self.rows, key=self.rows.get))
        save_file({"embeddings": self.table.contiguous()}, str(tmp), metadata={"captions": captions})
        os.replace(tmp, self.path)
