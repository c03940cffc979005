"""Render the thumbnail ComfyUI's template browser shows beside each example workflow (``workflows/NAME.jpg``).

Each thumbnail shows what the workflow makes: the workflow's own prompts are run through the client against the
local simulator (free, deterministic), and frames of the resulting clips are tiled: one clip fills the picture;
a chain (three shots, remix and extend, image then clip) shows its steps side by side; the frames workflow shows
the frames it samples; the storyboard workflow shows its shots and the contact sheet it makes; the character
workflow makes its character from a stand-in clip of the figure and shows both shots that name it. Written as small JPEGs (well under 60 KB).

    python bench/workflow_thumbnails.py            # rewrites workflows/*.jpg
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 512, 288
QUALITY = 80
BACKGROUND = (24, 24, 28)
WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
# The clip Load Job recovers in its example: any earlier clip; the text-to-video example's is the natural one.
RECOVERED_PROMPT = "A paper boat drifting down a rainy street, close-up, sound of rain"


def figure_clip(dest: Path) -> Path:
    """A stand-in for the user's clip of the figure in the character example: an orange disc that bobs."""
    import av

    with av.open(str(dest), "w") as box:
        stream = box.add_stream("libx264", rate=10)
        stream.width = stream.height = 128
        stream.pix_fmt = "yuv420p"
        for i in range(10):
            image = Image.new("RGB", (128, 128), (230, 230, 220))
            ImageDraw.Draw(image).ellipse([34, 30 + i, 94, 90 + i], fill=(235, 140, 40))
            box.mux(stream.encode(av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")))
        box.mux(stream.encode(None))
    return dest


def png(frame: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG")
    return buf.getvalue()


def reference_picture(size: str) -> bytes:
    """A stand-in for the user's picture in the image-to-video example: a simple landscape."""
    w, h = (int(v) for v in size.split("x"))
    image = Image.new("RGB", (w, h), (120, 170, 220))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, int(h * 0.62), w, h], fill=(60, 120, 60))
    draw.ellipse([int(w * 0.68), int(h * 0.12), int(w * 0.8), int(h * 0.12) + int(w * 0.12)], fill=(250, 220, 120))
    draw.polygon([(int(w * 0.1), int(h * 0.62)), (int(w * 0.3), int(h * 0.25)), (int(w * 0.5), int(h * 0.62))],
                 fill=(90, 90, 110))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


class Renderer:
    """Clips of the workflows' prompts, made by the client against a local simulator."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _collect(self, video: Any) -> Path:
        self.client.wait(video.id)
        return self.client.download_content(video.id)

    def create(self, prompt: str, size: str = "1280x720", seconds: int = 4, model: str = "sora-2",
               image: bytes | None = None, characters: list[str] | None = None) -> Path:
        from sora2_bridge.shared.models import ImageInput

        reference = ImageInput(data=image, mime_type="image/png", filename="reference.png") if image else None
        video = self.client.create(prompt, model=model, size=size, seconds=seconds, input_reference=reference,
                                   characters=characters)
        return self._collect(video)

    def character(self, name: str) -> str:
        """The id of a character made from a stand-in clip of the figure."""
        clip = figure_clip(Path(os.environ["SORA2_DATA_DIR"]) / "figure.mp4")
        return self.client.create_character(name, clip).id

    def remix(self, source: Path, prompt: str) -> Path:
        return self._collect(self.client.remix(source.stem, prompt))

    def extend(self, source: Path, prompt: str, seconds: int) -> Path:
        return self._collect(self.client.extend(source.stem, prompt, seconds))


    def storyboard(self, text: str) -> list[np.ndarray]:
        """The middle frame of every shot of the film the storyboard makes, and its contact sheet."""
        import asyncio

        from sora2_bridge.shared import AsyncSoraClient
        from sora2_bridge.shared.storyboard import load_storyboard, plan_storyboard, run_storyboard

        folder = Path(os.environ["SORA2_DATA_DIR"]) / "storyboard"

        async def run() -> Any:
            async with AsyncSoraClient(self.client.config) as client:
                plan = plan_storyboard(load_storyboard(text), client.provider, base_url=client.config.base_url,
                                       film=folder / "film.mp4")
                return plan, await run_storyboard(client, plan, out_dir=folder)

        plan, result = asyncio.run(run())
        films = {s.id for s in plan.film_shots}
        frames = [frame_at(s.file, 0.5) for s in result.shots if s.id in films]
        return frames + [np.asarray(Image.open(result.contact_sheet).convert("RGB"))]


def frame_at(clip: Path, fraction: float) -> np.ndarray:
    from sora2_bridge.shared.video import decode_frames, last_frame, probe

    if fraction >= 1.0:
        return last_frame(clip)
    info = probe(clip)
    return decode_frames(clip, start=info.duration * fraction, max_frames=1, dtype=np.uint8)[0]


def tile(frames: list[np.ndarray]) -> Image.Image:
    """One frame fills the picture; two sit side by side; three or four make a 2x2 grid."""
    canvas = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    cols, rows = (1, 1) if len(frames) == 1 else (2, 1) if len(frames) == 2 else (2, 2)
    cell_w, cell_h = WIDTH // cols, HEIGHT // rows
    for i, frame in enumerate(frames[: cols * rows]):
        picture = Image.fromarray(frame)
        picture.thumbnail((cell_w - 4, cell_h - 4), Image.Resampling.LANCZOS)
        x = (i % cols) * cell_w + (cell_w - picture.width) // 2
        y = (i // cols) * cell_h + (cell_h - picture.height) // 2
        canvas.paste(picture, (x, y))
    return canvas


def _widgets(workflow: dict[str, Any], node_type: str) -> list[list[Any]]:
    return [n["widgets_values"] for n in sorted(workflow["nodes"], key=lambda n: n["id"]) if n["type"] == node_type]


def frames_for(name: str, workflow: dict[str, Any], render: Renderer) -> list[np.ndarray]:
    """The frames that tell what ``name`` makes, from its own widget values."""
    # Sora 2 Video's widgets: prompt, model, size, seconds, fit, seed, ...
    videos = [{"prompt": v[0], "model": v[1], "size": v[2], "seconds": int(v[3])}
              for v in _widgets(workflow, "Sora2BridgeVideo")]
    if name == "sora2_image_to_video":
        picture = reference_picture(videos[0]["size"])
        clip = render.create(**videos[0], image=picture)
        return [np.asarray(Image.open(io.BytesIO(picture)).convert("RGB")), frame_at(clip, 1.0)]
    if name == "sora2_storyboard":
        return render.storyboard(_widgets(workflow, "Sora2BridgeStoryboard")[0][0])
    if name == "sora2_character_two_shots":  # one character named in two chained shots
        character = render.character(_widgets(workflow, "Sora2BridgeCharacter")[0][0])
        first = render.create(**videos[0], characters=[character])
        second = render.create(**videos[1], image=png(frame_at(first, 1.0)), characters=[character])
        return [frame_at(first, 0.5), frame_at(second, 0.5)]
    if name == "sora2_load_job":
        return [frame_at(render.create(RECOVERED_PROMPT), 0.5)]
    shots = [render.create(**v) for v in videos]
    if name == "sora2_remix_extend":
        remix_prompt = _widgets(workflow, "Sora2BridgeRemix")[0][1]
        extend = _widgets(workflow, "Sora2BridgeExtend")[0]
        remixed = render.remix(shots[0], remix_prompt)
        extended = render.extend(shots[0], extend[1], int(extend[2]))
        return [frame_at(shots[0], 0.5), frame_at(remixed, 0.5), frame_at(extended, 0.9)]
    if name == "sora2_frames_and_audio":
        return [frame_at(shots[0], f) for f in (0.0, 0.33, 0.66, 1.0)]
    return [frame_at(shot, 0.5) for shot in shots]


def main() -> int:
    from sora2_bridge.shared import SoraClient, resolve_config
    from sora2_bridge.shared.simulator import SimulatorConfig, SimulatorServer

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SORA2_DATA_DIR"] = tmp  # the renders never enter the user's own job record
        with SimulatorServer(SimulatorConfig(instant=True, media_dir=Path(tmp) / "media")) as sim:
            with SoraClient(resolve_config("local", sim.base_url)) as client:
                render = Renderer(client)
                for path in sorted(WORKFLOWS.glob("*.json")):
                    workflow = json.loads(path.read_text(encoding="utf-8"))
                    picture = tile(frames_for(path.stem, workflow, render))
                    out = path.with_suffix(".jpg")
                    picture.save(out, format="JPEG", quality=QUALITY, optimize=True, progressive=True)
                    print(f"{out.name}: {out.stat().st_size / 1000:.1f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
