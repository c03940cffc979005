"""Image helpers for image-to-video: read, identify, render as the user sees it, and fit to the requested size.

The service rejects an ``input_reference`` whose width and height differ from ``size``, and upstream images
(ComfyUI graphs, user files) rarely match, so fitting is part of the client, not the user's chore. Pillow is used
because it decodes every common format and resizes with good filters; ComfyUI ships it already.

Whatever Pillow opens (palette, grey, alpha, CMYK, 16/32-bit, float, Lab, EXIF-rotated, animated) goes through ONE
function, :func:`as_seen`, that turns it into the 8-bit RGB picture a viewer would show; every front end reaches
it through :func:`fit_reference`, which also says in plain words what the user should know before paying
(an animation reduced to its first frame, a reference enlarged so much that it will look blurry).
"""

from __future__ import annotations

import io
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

from .errors import InvalidInputError
from .models import ImageInput, parse_size

FitMode = Literal["crop", "pad", "stretch"]
FIT_MODES: tuple[str, ...] = ("crop", "pad", "stretch")
_PIL_TO_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

PAD_COLOUR = (0, 0, 0)
"""Letterbox bars and the backdrop transparent pixels are composited onto: the service wants an opaque frame."""

MAX_SHARP_ENLARGEMENT = 2.0
"""Beyond 2x linear (each source pixel spread over more than 4 output pixels) resampling cannot hide the missing
detail and the first frame looks visibly soft; up to 2x (e.g. 640x360 for a 720p clip) Lanczos looks acceptable."""

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_EXIF_ORIENTATION = 0x0112

_NOT_AN_IMAGE = "input_reference is not a readable image (or is damaged); use a JPEG, PNG or WebP file."


@dataclass(frozen=True)
class FittedImage:
    """The reference to send, and what the user should be told about it before anything is paid."""

    image: ImageInput
    warnings: list[str] = field(default_factory=list)


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


# ---------------------------------------------------------------------------------------------- as the user sees it
def _scale_range(values: np.ndarray, mode: str) -> tuple[float, float, str | None]:
    """The (low, high) that map to black and white for a deep single-channel image, and a note if unusual.

    Nominal ranges first, because that is what viewers show: a dark 16-bit scene must stay dark, not be
    stretched to full contrast. 16-bit images (``I;16*``) span 0..65535. ``I`` (32-bit integer) is nearly always
    16-bit data in a wider container (how Pillow and TIFF writers hold it), so 0..65535 when the values fit.
    ``F`` (float) is 0..1 when it fits (the convention of normalised images, ComfyUI's included), else 0..255.
    Anything outside those has no display convention, so its own minimum..maximum is used, and said.
    """
    if mode.startswith("I;16"):
        return 0.0, 65535.0, None
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if lo >= 0 and mode == "F" and hi <= 1:
        return 0.0, 1.0, None
    if lo >= 0 and hi <= (255 if mode == "F" else 65535):
        return 0.0, (255.0 if mode == "F" else 65535.0), None
    kind = "floating-point" if mode == "F" else "32-bit integer"
    note = (f"the reference image holds {kind} values from {lo:g} to {hi:g}, outside any usual range; "
            f"they are scaled so that {lo:g} is black and {hi:g} is white")
    return lo, (hi if hi > lo else lo + 1.0), note


def _deep_to_grey(image: Image.Image) -> tuple[Image.Image, str | None]:
    """A 16/32-bit integer or float single-channel image as 8-bit grey (see :func:`_scale_range`)."""
    values = np.asarray(image, dtype=np.float64)
    lo, hi, note = _scale_range(values, image.mode)
    scaled = np.nan_to_num((values - lo) * (255.0 / (hi - lo)), nan=0.0, posinf=255.0, neginf=0.0)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L"), note


def as_seen(image: Image.Image) -> tuple[Image.Image, list[str]]:
    """Any image Pillow opened -> the 8-bit RGB picture a viewer shows, plus notes for the user.

    First frame of an animation (and a note: the service takes one still), EXIF orientation applied (phones store
    pictures sideways and tag them), deep images scaled to 8 bits, transparency composited onto
    :data:`PAD_COLOUR` (what was see-through must not leak hidden colour); the rest is Pillow's own conversion:
    CMYK by ``R = (255 - C)(255 - K) / 255`` (Adobe's inverted CMYK JPEGs are undone by the decoder), CIE Lab to
    sRGB, palette and bilevel through their tables.
    """
    notes: list[str] = []
    frames = getattr(image, "n_frames", 1)
    if getattr(image, "is_animated", False) and frames > 1:
        image.seek(0)
        notes.append(f"the reference image is animated ({frames} frames); only its first frame is used")
    img = ImageOps.exif_transpose(image)
    if img.mode.startswith("I") or img.mode == "F":
        img, note = _deep_to_grey(img)
        notes.extend([note] if note else [])
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        backdrop = Image.new("RGBA", img.size, (*PAD_COLOUR, 255))
        return Image.alpha_composite(backdrop, img.convert("RGBA")).convert("RGB"), notes
    return img.convert("RGB"), notes


# ---------------------------------------------------------------------------------------------- fitting
def enlargement(source: tuple[int, int], target: tuple[int, int], mode: FitMode) -> tuple[float, float]:
    """How much each axis of the picture is enlarged when fitted: crop covers, pad fits inside, stretch does both."""
    (sw, sh), (w, h) = source, target
    if mode == "stretch":
        return w / sw, h / sh
    scale = max(w / sw, h / sh) if mode == "crop" else min(w / sw, h / sh)
    return scale, scale


def _times(factor: float) -> str:
    return f"{factor:.0f}x" if factor >= 10 else f"{factor:.1f}x"


def enlargement_warning(source: tuple[int, int], size: str, mode: FitMode = "crop") -> str | None:
    """A sentence for a reference far smaller than the clip (paid for either way, so said before paying)."""
    w, h = parse_size(size)
    fx, fy = enlargement(source, (w, h), mode)
    if max(fx, fy) <= MAX_SHARP_ENLARGEMENT:
        return None
    factor = _times(fx) if abs(fx - fy) < 0.05 else f"{_times(fx)} across and {_times(fy)} down"
    return (f"the reference image is {source[0]}x{source[1]}; it is enlarged {factor} to {w}x{h} and will look "
            f"blurry (at least {-(-w // 2)}x{-(-h // 2)} keeps it sharp)")


def _fit_rgb(img: Image.Image, w: int, h: int, mode: FitMode) -> Image.Image:
    """Fit an RGB picture to WxH: ``crop`` covers and centre-crops, ``pad`` letterboxes, ``stretch`` resizes."""
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
    canvas = Image.new("RGB", (w, h), PAD_COLOUR)
    canvas.paste(img.resize((nw, nh), Image.Resampling.LANCZOS), ((w - nw) // 2, (h - nh) // 2))
    return canvas


def _check_mode(mode: str) -> None:
    if mode not in FIT_MODES:
        raise InvalidInputError(f"fit must be one of {', '.join(FIT_MODES)}, got {mode!r}.", param="fit")


def fit_pil_image(image: Image.Image, size: str, mode: FitMode = "crop") -> FittedImage:
    """Any opened image -> the PNG reference fitted to WIDTHxHEIGHT, with the notes the user must see first."""
    _check_mode(mode)
    w, h = parse_size(size)
    rgb, notes = as_seen(image)
    warning = enlargement_warning(rgb.size, size, mode)
    return FittedImage(encode_png(_fit_rgb(rgb, w, h, mode)), [*notes, *([warning] if warning else [])])


def encode_png(image: Image.Image, filename: str = "reference.png") -> ImageInput:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=3)
    return ImageInput(data=buf.getvalue(), mime_type="image/png", filename=filename)


def _sendable_as_is(im: Image.Image, data: bytes) -> bool:
    """True for a plain 8-bit RGB JPEG/PNG/WebP still, upright and opaque: the service shows it exactly as a viewer.

    Pillow reports 16-bit RGB PNGs as mode RGB, so the PNG header's bit depth (byte 24) is read as well.
    """
    return (im.format in _PIL_TO_MIME and im.mode == "RGB" and "transparency" not in im.info
            and not getattr(im, "is_animated", False)
            and im.getexif().get(_EXIF_ORIENTATION, 1) == 1
            and (im.format != "PNG" or data[24:25] == b"\x08"))


def fit_reference(image: ImageInput | bytes, size: str, mode: FitMode = "crop") -> FittedImage:
    """Image bytes -> the reference to send and the warnings to show before paying.

    Bytes already at ``size`` that the service shows as a viewer would are sent unchanged (no re-encode);
    anything else (another size, CMYK, 16-bit, alpha, rotated, animated) is rendered as seen and fitted.
    """
    _check_mode(mode)
    data = image.data if isinstance(image, ImageInput) else image
    mime, dims = probe_image(data)
    with Image.open(io.BytesIO(data)) as im:
        if dims == parse_size(size) and mime and _sendable_as_is(im, data):
            return FittedImage(image if isinstance(image, ImageInput) else ImageInput(data=data, mime_type=mime))
        return fit_pil_image(im, size, mode)


def fit_image(image: ImageInput | bytes, size: str, mode: FitMode = "crop") -> ImageInput:
    """The reference alone, for callers that show no warnings (see :func:`fit_reference`)."""
    return fit_reference(image, size, mode).image
