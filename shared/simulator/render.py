"""Real, deterministic media for simulated jobs: an H.264 + AAC MP4, a WebP thumbnail and a JPEG spritesheet.

Clients must be tested against files a player (and PyAV, ComfyUI, ffprobe) really accepts, with the exact
WIDTHxHEIGHT, 30 fps and ``seconds * 30`` frames the service promises, so the simulator encodes a genuine clip
instead of serving a canned file. Everything visible and audible derives from a hash of the request, so the
same request gives byte-identical files (libx264 on one thread, bitexact muxing, no wall-clock metadata) and a
different prompt gives a different clip. Frames are generated and encoded one at a time: memory stays flat
however long the clip is.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..models import parse_size

FPS = 30
SAMPLE_RATE = 48000
AAC_FRAME = 1024
FADE_FRAMES = FPS  # a reference image fades into the pattern over the first second
SPRITE_COLUMNS = 4
SPRITE_TILE_WIDTH = 256
# Bump when the drawing changes, so caches from an older version are not served.
RENDER_VERSION = 1


@dataclass(frozen=True)
class RenderSpec:
    """Everything that decides the pixels and samples of a clip; its hash names the cached files."""

    prompt: str
    size: str
    seconds: int
    model: str
    kind: str = "create"  # create | remix | extend | edit: shown on screen
    reference_sha: str | None = None  # sha256 of the input_reference bytes, stored beside the media
    characters: tuple[str, ...] = ()  # names of the characters the create named, each drawn in its own box

    @property
    def key(self) -> str:
        fields = asdict(self)
        if not self.characters:  # clips without characters keep the names they were cached under
            del fields["characters"]
        else:
            fields["characters"] = list(self.characters)
        blob = json.dumps({"v": RENDER_VERSION, **fields}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:40]

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.key.encode()).digest()


@dataclass(frozen=True)
class MediaPaths:
    video: Path
    thumbnail: Path
    spritesheet: Path

    def for_variant(self, variant: str) -> Path:
        return {"video": self.video, "thumbnail": self.thumbnail, "spritesheet": self.spritesheet}[variant]


# Per-target locks shared by every cache in the process: two servers (or two requests) asking for the same clip
# wait for one render instead of encoding it twice.
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(path.resolve()), threading.Lock())


class MediaCache:
    """Content-addressed files on disk: a clip is rendered once per spec, then served from the cache."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def put_reference(self, data: bytes) -> str:
        """Keep an input_reference image for later rendering; returns its sha256 (the spec refers to it)."""
        sha = hashlib.sha256(data).hexdigest()
        path = self._reference_path(sha)
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return sha

    def paths(self, spec: RenderSpec) -> MediaPaths:
        stem = self.directory / spec.key
        return MediaPaths(stem.with_suffix(".mp4"), stem.with_suffix(".webp"), stem.with_suffix(".jpg"))

    def ensure(self, spec: RenderSpec) -> MediaPaths:
        """Blocking: render the clip unless cached. Call it from a worker thread."""
        paths = self.paths(spec)
        with _lock_for(paths.video):
            if not paths.video.exists():
                reference = None
                if spec.reference_sha:
                    reference = self._reference_path(spec.reference_sha).read_bytes()
                render_clip(spec, paths, reference)
        return paths

    def _reference_path(self, sha: str) -> Path:
        return self.directory / f"ref-{sha}.img"


def render_clip(spec: RenderSpec, out: MediaPaths, reference: bytes | None = None) -> None:
    """Encode the clip, thumbnail and spritesheet; files appear atomically (the MP4 last, as the 'done' mark)."""
    width, height = parse_size(spec.size)
    frames = spec.seconds * FPS
    painter = _Painter(spec, width, height, reference)
    sprite_frames = {s * FPS + FPS // 2: s for s in range(spec.seconds)}
    tile_h = round(SPRITE_TILE_WIDTH * height / width)
    rows = math.ceil(spec.seconds / SPRITE_COLUMNS)
    sheet = Image.new("RGB", (SPRITE_TILE_WIDTH * min(SPRITE_COLUMNS, spec.seconds), tile_h * rows))
    tone = _Tone(spec.digest, spec.seconds * SAMPLE_RATE)
    tmp_video = out.video.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp.mp4")

    with av.open(str(tmp_video), "w", format="mp4", options={"fflags": "+bitexact", "movflags": "+faststart"}) as box:
        video = box.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.thread_count = 1
        video.options = {"preset": "ultrafast", "flags": "+bitexact"}
        audio = box.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        audio.codec_context.thread_count = 1
        audio.options = {"flags": "+bitexact"}
        for i in range(frames):
            rgb = painter.frame(i)
            if i == frames // 2:
                _save_atomic(Image.fromarray(rgb), out.thumbnail, "WEBP", quality=80, method=4)
            if i in sprite_frames:
                s = sprite_frames[i]
                tile = Image.fromarray(rgb).resize((SPRITE_TILE_WIDTH, tile_h), Image.Resampling.BILINEAR)
                sheet.paste(tile, ((s % SPRITE_COLUMNS) * SPRITE_TILE_WIDTH, (s // SPRITE_COLUMNS) * tile_h))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            box.mux(video.encode(frame))
            # keep audio interleaved with video: emit every AAC frame that starts before the next video frame
            while tone.position < (i + 1) * SAMPLE_RATE // FPS and not tone.done:
                box.mux(audio.encode(tone.next_frame()))
        while not tone.done:
            box.mux(audio.encode(tone.next_frame()))
        box.mux(video.encode(None))
        box.mux(audio.encode(None))
    _save_atomic(sheet, out.spritesheet, "JPEG", quality=85)
    os.replace(tmp_video, out.video)


def _save_atomic(image: Image.Image, path: Path, fmt: str, **params: object) -> None:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


class _Tone:
    """Two sine tones (left/right) whose pitch comes from the request hash, cut into AAC-sized frames."""

    def __init__(self, digest: bytes, total_samples: int) -> None:
        self.left = 220.0 + (digest[0] * 256 + digest[1]) % 660
        self.right = self.left * 1.5  # a fifth above: audibly a chord, easy to recognise in a test
        self.total = total_samples
        self.position = 0

    @property
    def done(self) -> bool:
        return self.position >= self.total

    def next_frame(self) -> av.AudioFrame:
        n = min(AAC_FRAME, self.total - self.position)
        t = (np.arange(self.position, self.position + n, dtype=np.float64)) / SAMPLE_RATE
        samples = np.stack([np.sin(2 * np.pi * self.left * t), np.sin(2 * np.pi * self.right * t)]) * 0.2
        frame = av.AudioFrame.from_ndarray(samples.astype(np.float32), format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self.position
        self.position += n
        return frame


# Bright, distinct colours for character boxes; a name always gets the same one (shot after shot).
CHARACTER_COLOURS = ((220, 40, 40), (40, 90, 220), (30, 170, 60), (230, 150, 20), (160, 50, 200), (20, 170, 180))


def character_colours(names: tuple[str, ...] | list[str]) -> list[tuple[int, int, int]]:
    """The box colour of each named character: from a hash of its name, the next free one if two would match."""
    taken: list[tuple[int, int, int]] = []
    for name in names:
        i = hashlib.sha256(name.encode("utf-8", "replace")).digest()[0] % len(CHARACTER_COLOURS)
        while CHARACTER_COLOURS[i] in taken:
            i = (i + 1) % len(CHARACTER_COLOURS)
        taken.append(CHARACTER_COLOURS[i])
    return taken


def character_box(slot: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Where character ``slot`` (0 or 1) is drawn, as (x0, y0, x1, y1): the top-left and top-right corners,
    above the caption, the same place in every frame, so a test (or a viewer) finds it."""
    bw, bh = max(48, width // 4), max(20, height // 12)
    margin_x, y0 = width // 32, height // 32
    x0 = margin_x if slot == 0 else width - margin_x - bw
    return x0, y0, x0 + bw, y0 + bh


class _Painter:
    """Draws frame ``i``: scrolling diagonal stripes in request-derived colours, a bouncing square, the prompt's
    words and a frame counter; with a reference image, frame 0 is that image and it fades into the pattern."""

    def __init__(self, spec: RenderSpec, width: int, height: int, reference: bytes | None) -> None:
        d = spec.digest
        self.w, self.h, self.total = width, height, spec.seconds * FPS
        c1 = np.array([d[2], d[3], d[4]], dtype=np.uint8) // 2 + 32
        c2 = np.array([d[5], d[6], d[7]], dtype=np.uint8) // 2 + 96
        self.period = 64 + d[8] % 64
        self.step = 2 + d[9] % 5
        diagonal = np.arange(height, dtype=np.int32)[:, None] + np.arange(width + self.period, dtype=np.int32)
        stripes = diagonal % self.period < self.period // 2
        self.tile = np.where(stripes[..., None], c1, c2).astype(np.uint8)
        self.box = max(16, min(width, height) // 6)
        self.box_colour = 255 - c1
        self.phase = d[10] / 255 * 2 * np.pi
        self.font_size = max(14, min(width, height) // 20)
        self.text_origin, self.text_rgb, self.text_alpha = self._text_layer(spec)
        self.counter_font = ImageFont.load_default(size=self.font_size)
        self.reference = self._load_reference(reference)
        self.characters = self._character_patches(spec.characters)

    def _character_patches(self, names: tuple[str, ...]) -> list[tuple[tuple[int, int], np.ndarray]]:
        """Each character's box (its colour, its name in white), drawn once and pasted on every frame."""
        patches = []
        for slot, (name, colour) in enumerate(zip(names, character_colours(names))):
            x0, y0, x1, y1 = character_box(slot, self.w, self.h)
            box = Image.new("RGB", (x1 - x0, y1 - y0), colour)
            font = ImageFont.load_default(size=max(10, (y1 - y0) // 2))
            label = name if font.getlength(name) <= box.width - 8 else name[: max(1, box.width // 10)] + "..."
            ImageDraw.Draw(box).text((4, (y1 - y0) // 4), label, font=font, fill=(255, 255, 255))
            patches.append(((x0, y0), np.asarray(box)))
        return patches

    def _text_layer(self, spec: RenderSpec) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
        """Pre-render the static caption once (header + wrapped prompt) as colour + alpha, blended every frame."""
        font = ImageFont.load_default(size=self.font_size)
        small = ImageFont.load_default(size=max(12, self.font_size * 2 // 3))
        max_w = int(self.w * 0.86)
        lines = _wrap(spec.prompt, font, max_w, max_lines=max(1, (self.h // 2) // (self.font_size + 6)))
        header = f"SORA 2 SIMULATOR | {spec.kind} | {spec.model} | {spec.size} | {spec.seconds}s"
        line_h = self.font_size + 6
        box_h = line_h * len(lines) + self.font_size + 16
        layer = Image.new("RGBA", (max_w + 16, box_h), (0, 0, 0, 120))
        draw = ImageDraw.Draw(layer)
        draw.text((8, 4), header, font=small, fill=(255, 255, 0, 255))
        for n, line in enumerate(lines):
            draw.text((8, self.font_size + 8 + n * line_h), line, font=font, fill=(255, 255, 255, 255))
        arr = np.asarray(layer)
        origin = ((self.w - layer.width) // 2, self.h // 8)
        return origin, arr[..., :3].astype(np.float32), arr[..., 3:].astype(np.float32) / 255.0

    def _load_reference(self, data: bytes | None) -> np.ndarray | None:
        if data is None:
            return None
        with Image.open(io.BytesIO(data)) as im:
            img = im.convert("RGB")
        if img.size != (self.w, self.h):  # validated at create time; fitting here only guards a stale cache
            img = img.resize((self.w, self.h), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.float32)

    def frame(self, i: int) -> np.ndarray:
        shift = (i * self.step) % self.period
        rgb = np.ascontiguousarray(self.tile[:, shift : shift + self.w])
        t = i / self.total * 2 * np.pi
        bx = int((self.w - self.box) * (0.5 + 0.5 * math.sin(t * 2 + self.phase)))
        by = int((self.h - self.box) * (0.5 + 0.5 * math.cos(t * 3 + self.phase)))
        rgb[by : by + self.box, bx : bx + self.box] = self.box_colour
        x, y = self.text_origin
        th, tw = self.text_alpha.shape[:2]
        region = rgb[y : y + th, x : x + tw].astype(np.float32)
        rgb[y : y + th, x : x + tw] = (region * (1 - self.text_alpha) + self.text_rgb * self.text_alpha).astype(
            np.uint8
        )
        self._draw_counter(rgb, i)
        if self.reference is not None and i < FADE_FRAMES:
            a = 1.0 - i / FADE_FRAMES
            rgb = (self.reference * a + rgb.astype(np.float32) * (1 - a)).astype(np.uint8)
        for (x, y), patch in self.characters:
            rgb[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
        return rgb

    def _draw_counter(self, rgb: np.ndarray, i: int) -> None:
        label = f"frame {i + 1:04d}/{self.total:04d}  t={i / FPS:05.2f}s"
        width = int(self.counter_font.getlength(label)) + 12
        patch = Image.new("RGB", (min(width, self.w), self.font_size + 10), (0, 0, 0))
        ImageDraw.Draw(patch).text((6, 3), label, font=self.counter_font, fill=(255, 255, 255))
        y = self.h - patch.height - self.h // 16
        rgb[y : y + patch.height, : patch.width] = np.asarray(patch)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap; long prompts are cut with an ellipsis rather than overflowing the frame."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if font.getlength(candidate) <= max_width or not current:
            current = candidate
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines:
            break
    if current and len(lines) < max_lines:
        lines.append(current)
    if len(lines) == max_lines and " ".join(lines) != " ".join(text.split()):
        lines[-1] = lines[-1][: max(0, len(lines[-1]) - 3)] + "..."
    while lines and len(lines[-1]) > 3 and font.getlength(lines[-1]) > max_width:  # a single huge "word"
        lines[-1] = lines[-1][:-4] + "..."
    return lines or [""]
