"""The finished film and its contact sheet, made from the shot clips on disk.

Joining streams: :func:`~sora2_bridge.shared.video.join_clips` copies packets when the clips were encoded alike
(clips from one service are) and re-encodes frame by frame otherwise; sound transitions are a second pass that
copies the picture and re-encodes only the sound (:func:`~sora2_bridge.shared.video.dip_audio`). The whole film
is never in memory, whatever its length.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..video import _temp_path, decode_frames, dip_audio, join_clips, probe
from .model import Crossfade, Join

TILE_WIDTH = 320
CAPTION_HEIGHT = 46
COLUMNS = 4
PROMPT_CHARS = 60  # at most this much of a prompt is tried on the caption line


def join_film(clips: Sequence[str | Path], joins: Sequence[Join], dest: str | Path) -> Path:
    """Join ``clips`` in order into ``dest`` (MP4 with sound). ``joins[i]`` is the transition after clip ``i``
    (the last is ignored): a cut, or a sound crossfade of N ms centred on the cut. The file appears atomically."""
    out = Path(dest)
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(clips) == 1:
        tmp = _temp_path(out)
        shutil.copyfile(clips[0], tmp)
        os.replace(tmp, out)
        return out
    dips: list[tuple[float, float]] = []
    at = 0.0
    for clip, join in zip(clips[:-1], joins[:-1], strict=True):
        at += probe(clip).duration
        if isinstance(join, Crossfade):
            dips.append((at, join.crossfade_ms / 1000))
    if not dips:
        return join_clips(list(clips), out)
    cuts = out.with_name(f".{out.stem}.cuts{out.suffix or '.mp4'}")
    try:
        join_clips(list(clips), cuts)
        return dip_audio(cuts, out, dips)
    finally:
        cuts.unlink(missing_ok=True)


def contact_sheet(clips: Sequence[str | Path], shots: Sequence[Any], dest: str | Path, *,
                  tile_width: int = TILE_WIDTH, columns: int = COLUMNS) -> Path:
    """One PNG: a frame from the middle of each clip, captioned with its shot's id and the start of its prompt.

    ``shots`` are objects with ``id`` and ``prompt`` (planned shots or storyboard shots), in the clips' order.
    """
    images = [_thumbnail(Path(c), tile_width) for c in clips]
    tile_h = max(im.height for im in images)
    cols = max(1, min(columns, len(images)))
    rows = -(-len(images) // cols)
    sheet = Image.new("RGB", (cols * tile_width, rows * (tile_h + CAPTION_HEIGHT)), (18, 18, 18))
    draw = ImageDraw.Draw(sheet)
    bold, small = ImageFont.load_default(size=16), ImageFont.load_default(size=13)
    for i, (im, shot) in enumerate(zip(images, shots, strict=True)):
        x, y = (i % cols) * tile_width, (i // cols) * (tile_h + CAPTION_HEIGHT)
        sheet.paste(im, (x, y + (tile_h - im.height) // 2))
        draw.text((x + 6, y + tile_h + 4), str(shot.id), fill=(255, 255, 255), font=bold)
        draw.text((x + 6, y + tile_h + 25), _prompt_start(shot.prompt, small, tile_width - 12), fill=(190, 190, 190),
                  font=small)
    out = Path(dest)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.part.png")
    sheet.save(tmp, format="PNG")
    os.replace(tmp, out)
    return out


def _thumbnail(clip: Path, width: int) -> Image.Image:
    info = probe(clip)
    frame = decode_frames(clip, start=info.duration / 2, max_frames=1, dtype=np.uint8)
    if len(frame) == 0:
        frame = decode_frames(clip, max_frames=1, dtype=np.uint8)
    im = Image.fromarray(frame[0])
    return im.resize((width, max(1, round(width * im.height / im.width))), Image.Resampling.LANCZOS)


def _prompt_start(prompt: str, font: Any, width: int) -> str:
    """The start of the prompt on one line that fits ``width`` pixels, with an ellipsis when cut."""
    text = " ".join(prompt.split())
    while text and font.getlength(text) > width:
        text = text[: max(0, min(len(text) - 2, PROMPT_CHARS))].rstrip() + "…"
    return text
