"""Image helpers for image-to-video: read, identify and fit an image to the requested size.

The service rejects an ``input_reference`` whose width and height differ from ``size``, and upstream images
(ComfyUI graphs, user files) rarely match, so fitting is part of the client, not the user's chore. Pillow is used
because it decodes JPEG/PNG/WebP and resizes with good filters; ComfyUI ships it already.
"""

from __future__ import annotations

import io
import mimetypes
from pathlib import Path
from typing import Literal

from PIL import Image

from .errors import InvalidInputError
from .models import ImageInput, parse_size

FitMode = Literal["crop", "pad", "stretch"]
FIT_MODES: tuple[str, ...] = ("crop", "pad", "stretch")
_PIL_TO_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


_NOT_AN_IMAGE = "input_reference is not a readable image (or is damaged); use a JPEG, PNG or WebP file."


def probe_image(data: bytes) -> tuple[str | None, tuple[int, int]]:
    """Return (MIME type, (width, height)) of image bytes, or raise InvalidInputError if they are not an image.

    The pixels are decoded, not just the header: a truncated file must fail here, before any request is sent.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return _PIL_TO_MIME.get(im.format or ""), im.size
    except Exception:  # Pillow raises many types for damaged files (OSError, struct.error, SyntaxError...)
        raise InvalidInputError(_NOT_AN_IMAGE, param="input_reference") from None


def load_image_file(path: str | Path) -> ImageInput:
    p = Path(path).expanduser()
    if not p.is_file():
        raise InvalidInputError(f"Image file not found: {p}", param="image")
    data = p.read_bytes()
    mime, _ = probe_image(data)
    mime = mime or mimetypes.guess_type(p.name)[0] or "application/octet-stream"
    return ImageInput(data=data, mime_type=mime, filename=p.name)


def fit_pil_image(image: Image.Image, size: str, mode: FitMode = "crop") -> Image.Image:
    """Fit to WIDTHxHEIGHT: ``crop`` covers and centre-crops, ``pad`` letterboxes on black, ``stretch`` resizes."""
    if mode not in FIT_MODES:
        raise InvalidInputError(f"fit must be one of {', '.join(FIT_MODES)}, got {mode!r}.", param="fit")
    w, h = parse_size(size)
    img = image.convert("RGB")
    if img.size == (w, h):
        return img
    if mode == "stretch":
        return img.resize((w, h), Image.Resampling.LANCZOS)
    sw, sh = img.size
    if mode == "crop":
        scale = max(w / sw, h / sh)
        nw, nh = max(w, round(sw * scale)), max(h, round(sh * scale))
        img = img.resize((nw, nh), Image.Resampling.LANCZOS)
        left, top = (nw - w) // 2, (nh - h) // 2
        return img.crop((left, top, left + w, top + h))
    scale = min(w / sw, h / sh)
    nw, nh = max(1, round(sw * scale)), max(1, round(sh * scale))
    canvas = Image.new("RGB", (w, h), (0, 0, 0))
    canvas.paste(img.resize((nw, nh), Image.Resampling.LANCZOS), ((w - nw) // 2, (h - nh) // 2))
    return canvas


def encode_png(image: Image.Image, filename: str = "reference.png") -> ImageInput:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=3)
    return ImageInput(data=buf.getvalue(), mime_type="image/png", filename=filename)


def fit_image(image: ImageInput | bytes, size: str, mode: FitMode = "crop") -> ImageInput:
    """Return the image fitted to ``size``; an image that already matches is returned unchanged (no re-encode)."""
    data = image.data if isinstance(image, ImageInput) else image
    mime, dims = probe_image(data)
    if dims == parse_size(size) and mime and isinstance(image, ImageInput):
        return image
    with Image.open(io.BytesIO(data)) as im:
        return encode_png(fit_pil_image(im, size, mode))
