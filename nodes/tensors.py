"""Conversions between ComfyUI's tensors and the shared client's media: IMAGE <-> pixels, AUDIO <-> samples.

ComfyUI's IMAGE is a float32 torch tensor [B, H, W, C] in 0..1 (C is 3, sometimes 1 or 4); its AUDIO is
``{"waveform": float32 [B, C, T], "sample_rate": int}``. The shared code speaks numpy and PIL.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from ..shared.media import FittedImage, as_seen, fit_pil_image
from .runtime import NodeError


def _first_picture(image: Any, what: str) -> Image.Image:
    """The first image of an IMAGE batch as the PIL picture it holds (L, RGB or RGBA); a readable error otherwise."""
    if not isinstance(image, torch.Tensor):
        raise NodeError(f"The {what} input must be an IMAGE (a tensor [batch, height, width, channels]); "
                        f"got {type(image).__name__}.")
    t = image.detach()
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4 or t.shape[0] < 1 or t.shape[-1] not in (1, 3, 4):
        raise NodeError(f"The {what} input must be an IMAGE [batch, height, width, 1/3/4 channels]; "
                        f"got a tensor of shape {list(image.shape)}.")
    if t.shape[1] < 2 or t.shape[2] < 2:
        raise NodeError(f"The {what} input is {t.shape[2]}x{t.shape[1]} pixels: too small to use as a frame.")
    first = t[0].float()
    if not torch.isfinite(first).all():
        raise NodeError(f"The {what} input contains NaN or infinite values; check the node that made it.")
    pixels = (first.clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def image_to_pil(image: Any, *, what: str = "image") -> Image.Image:
    """The first image of an IMAGE batch as the RGB picture the shared code would send (alpha on the pad colour)."""
    return as_seen(_first_picture(image, what))[0]


def image_to_reference(image: Any, size: str, fit: str) -> FittedImage:
    """An IMAGE fitted to ``size`` (crop / pad / stretch) as the PNG the service expects, with its warnings."""
    return fit_pil_image(_first_picture(image, "image"), size, fit)  # type: ignore[arg-type]


def frame_to_image(rgb: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> IMAGE [1, H, W, 3] float32 in 0..1."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).to(torch.float32).div_(255.0).unsqueeze(0)


def audio_output(samples: np.ndarray, sample_rate: int) -> dict[str, Any]:
    """float32 [C, T] -> AUDIO {"waveform": [1, C, T], "sample_rate": int}."""
    return {"waveform": torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).unsqueeze(0),
            "sample_rate": int(sample_rate)}
