"""Text encoders: registry entries (manifest `text_encoders:`, schema version 2) that turn prompts into embeddings.

`import zoo.text` imports no torch.

    from zoo.text import list_text_encoders, load_text_encoder

    enc = load_text_encoder("all_minilm_l6_v2")   # offline, from the package that ships it
    inputs = enc.prepare(["a thin eight"])          # what the module takes (cached embeddings, character ids, ...)
    embedding = enc(inputs)                         # 1 x enc.dim

An encoder module has `dim`, `prepare(prompts) -> tensor` and `forward(inputs) -> N x dim`.
Pretrained encoders are frozen and keep their embeddings cached per caption under
`$ZOO_HOME/cache/text/` (`zoo.text.cache`); trainable ones (the character CNN) learn with the
model that holds them.
"""

from __future__ import annotations

from zoo.lazy import lazy_exports

_LAZY = {
    "TextEncoderError": "zoo.text.encoders",
    "list_text_encoders": "zoo.text.encoders",
    "find_text_encoder": "zoo.text.encoders",
    "load_text_encoder": "zoo.text.encoders",
    "EmbeddingCache": "zoo.text.cache",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
