"""Images in and out of the server: a client's bytes decoded safely, tensors encoded as PNG.

A client's image is refused, as a `RequestError` (a 4xx answer), when it is no image PIL reads,
when it is cut short, and when its header claims more than `MAX_PIXELS` pixels: the size is read
from the header before anything is decoded, so a 20,000 x 20,000 "decompression bomb" costs
nothing.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from typing import Any

MAX_PIXELS = 4096 * 4096


class RequestError(Exception):
    """A request the server refuses: its HTTP status and one line saying why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def from_base64(text: Any, field: str = "image") -> bytes:
    """The bytes of a base64 string (a `data:image/png;base64,` prefix allowed)."""
    if not isinstance(text, str) or not text:
        raise RequestError(422, f"{field} must be a base64-encoded PNG (a non-empty string)")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, f"{field} is not valid base64") from None


def decode_image(data: bytes, in_chans: int, field: str = "image") -> Any:
    """A C x H x W uint8 tensor (C = in_chans, 1 or 3) from an image file's bytes."""
    from PIL import Image, UnidentifiedImageError

    from zoo.cli.predict import image_tensor

    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise RequestError(413, f"{field} is {w}x{h} pixels; at most {MAX_PIXELS:,} pixels are decoded")
            if w < 1 or h < 1:
                raise RequestError(400, f"{field} has no pixels")
            return image_tensor(img, in_chans if in_chans in (1, 3) else 3)
    except RequestError:
        raise
    except Image.DecompressionBombError:
        raise RequestError(413, f"{field} claims more pixels than are ever decoded (a decompression bomb?); at most "
                                f"{MAX_PIXELS:,}") from None
    except UnidentifiedImageError:
        raise RequestError(400, f"{field} is not an image this server can read (send a PNG)") from None
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data
        raise RequestError(400, f"{field} could not be decoded ({type(err).__name__}: the file is damaged or cut short)") from None


def grid_png(images: Any, rows: int | None = None) -> bytes:
    """N x C x H x W in [0, 1] -> one PNG grid (as square as possible, 2 px gaps, as `zoo sample` draws it)."""
    from torchvision.utils import make_grid

    per_row = math.ceil(len(images) / rows) if rows else math.ceil(math.sqrt(len(images)))
    return png(make_grid(images.clamp(0, 1), nrow=per_row, padding=2, pad_value=1.0)[: images.shape[1]])


def png(image: Any) -> bytes:
    """One C x H x W image, float in [0, 1] or uint8, as PNG bytes."""
    import torch
    from PIL import Image

    if image.dtype != torch.uint8:
        image = image.clamp(0, 1).mul(255).round().to(torch.uint8)
    array = image.cpu().permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
