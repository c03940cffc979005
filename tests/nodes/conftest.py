"""Fixtures for the ComfyUI node tests: ComfyUI stand-ins, a harness that runs nodes as ComfyUI does, clips.

The stand-in modules in ``comfy_stubs/`` go on ``sys.path`` only when the real ``comfy_api`` is not importable, so
the same tests run inside a ComfyUI checkout (``PYTHONPATH=/path/to/ComfyUI``) against the real thing.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
STUBS = HERE / "comfy_stubs"

if importlib.util.find_spec("torch") is None:  # ComfyUI always has torch; a bare dev install may not
    collect_ignore_glob = ["test_*.py"]
    print("tests/nodes: torch is not installed, node tests skipped (pip install torch==2.13.0)", file=sys.stderr)
else:
    if importlib.util.find_spec("comfy_api") is None:
        sys.path.insert(0, str(STUBS))
    REAL_COMFY = not str(Path(importlib.util.find_spec("comfy_api").origin or "")).startswith(str(STUBS))


# ---------------------------------------------------------------------------------------- the harness
class Recorder:
    """Stands in for PromptServer.instance: keeps the status texts nodes send, runs the on_prompt handlers."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []
        self.on_prompt_handlers: list[Callable[[Any], Any]] = []

    def add_on_prompt_handler(self, handler: Callable[[Any], Any]) -> None:
        self.on_prompt_handlers.append(handler)

    def trigger_on_prompt(self, json_data: Any) -> Any:
        for handler in self.on_prompt_handlers:
            json_data = handler(json_data)
        return json_data

    def send_progress_text(self, text: Any, node_id: str, sid: Any = None) -> None:
        self.texts.append((str(node_id), text.decode() if isinstance(text, (bytes, bytearray)) else text))


class Comfy:
    """Runs V3 nodes the way ComfyUI's executor does, and plays the UI's part (progress, texts, Cancel)."""

    def __init__(self) -> None:
        self.progress: list[tuple[float, float, str | None]] = []
        self.server = Recorder()

    @property
    def texts(self) -> list[str]:
        return [t for _, t in self.server.texts]

    # -- the UI
    def _hook(self, value: float, total: float, preview: Any, node_id: str | None = None) -> None:
        self.progress.append((value, total, node_id))

    def cancel(self) -> None:
        import comfy.model_management as mm

        mm.interrupt_current_processing(True)

    def reset_cancel(self) -> None:
        import comfy.model_management as mm

        mm.interrupt_current_processing(False)

    @property
    def Interrupted(self) -> type[Exception]:
        """ComfyUI's interruption: the executor reports it as ``execution_interrupted`` (no error dialog)."""
        import comfy.model_management as mm

        return mm.InterruptProcessingException

    async def queue(self, cls: Any, node_id: str = "1", **inputs: Any) -> tuple[str, str]:
        """Run a node and report it as ComfyUI's executor does: the event the UI gets, and the error message."""
        try:
            await self.run(cls, node_id, **inputs)
        except self.Interrupted:
            return "execution_interrupted", ""
        except Exception as exc:
            return "execution_error", str(exc)
        return "executed", ""

    # -- the executor
    @staticmethod
    def schema(cls: Any) -> Any:
        return cls.GET_SCHEMA()

    @staticmethod
    def widget_defaults(cls: Any) -> dict[str, Any]:
        """What the frontend puts in a prompt for widgets the user left alone."""
        out = {}
        for i in cls.GET_SCHEMA().inputs:
            default = getattr(i, "default", None)
            if default is not None:
                out[i.id] = default
        return out

    def errors(self, cls: Any, node_id: str = "1", **inputs: Any) -> list[str]:
        """ComfyUI's queue-time checks of one node, with its messages as the UI lists them.

        As in ComfyUI (0.3.6x): the prompt goes through the server's on_prompt handlers first; min/max are checked
        for inputs ``validate_inputs`` does not name; the options of a V3 combo are not checked by the server
        (its input type is the string "COMBO", and only list-typed V1 combos are checked); a message from
        ``validate_inputs`` is recorded once per named input present in the prompt.
        """
        from comfy_api.latest import io

        values = {**self.widget_defaults(cls), **inputs}
        self.server.trigger_on_prompt({"prompt": {node_id: {"class_type": cls.GET_SCHEMA().node_id,
                                                            "inputs": values}}})
        custom = cls.validate_inputs.__func__ is not io.ComfyNode.validate_inputs.__func__
        spec = inspect.getfullargspec(cls.validate_inputs) if custom else None
        named = {k: v for k, v in values.items() if spec and (spec.varkw is not None or k in spec.args)}
        errors = []
        for i in cls.GET_SCHEMA().inputs:
            if i.id not in values or values[i.id] is None or i.id in named or isinstance(values[i.id], list):
                continue  # a list is a link: checked when the graph runs
            v = values[i.id]
            lo, hi = getattr(i, "min", None), getattr(i, "max", None)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if lo is not None and v < lo:
                    errors.append(f"Value {v} smaller than min of {lo}: {i.id}")
                if hi is not None and v > hi:
                    errors.append(f"Value {v} bigger than max of {hi}: {i.id}")
        if named:
            clone = cls.PREPARE_CLASS_CLONE({io.Hidden.unique_id: node_id})
            result = clone.validate_inputs(**named)
            if result is not True:
                errors += [f"Custom validation failed for node: {k}" + ("" if result is False else f" - {result}")
                           for k in named]
        return errors

    def validate(self, cls: Any, **inputs: Any) -> bool | str:
        """True, or the messages ComfyUI would list (one per line)."""
        return "\n".join(self.errors(cls, **inputs)) or True

    async def run(self, cls: Any, node_id: str = "1", **inputs: Any) -> Any:
        """Execute like ComfyUI: schema checks, a class clone with hidden inputs, then the async execute."""
        from comfy_api.latest import io

        cls.GET_SCHEMA()
        values = {**self.widget_defaults(cls), **inputs}
        clone = cls.PREPARE_CLASS_CLONE({io.Hidden.unique_id: node_id})
        return await clone.EXECUTE_NORMALIZED_ASYNC(**values)


@pytest.fixture
def comfy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Comfy]:
    if REAL_COMFY:  # a real ComfyUI picks its device when model_management is imported: no GPU in tests
        import comfy.cli_args

        comfy.cli_args.args.cpu = True
    import comfy.model_management as mm
    import comfy.utils
    import server

    from sora2_bridge.nodes import validation

    harness = Comfy()
    monkeypatch.setattr(server.PromptServer, "instance", harness.server, raising=False)
    assert validation.install()  # what loading the pack does (comfy_entrypoint)
    previous_hook = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.PROGRESS_BAR_HOOK = harness._hook
    mm.interrupt_current_processing(False)
    try:
        import folder_paths

        monkeypatch.setattr(folder_paths, "get_temp_directory", lambda: str(tmp_path / "comfy-temp"))
    except ImportError:
        pass
    yield harness
    comfy.utils.PROGRESS_BAR_HOOK = previous_hook
    mm.interrupt_current_processing(False)


# ---------------------------------------------------------------------------------------- the service
@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nodes poll every 0.05-0.2 s instead of the production policy's 6 s start."""
    from sora2_bridge.nodes import runtime
    from sora2_bridge.shared import PollPolicy, RetryPolicy

    monkeypatch.setattr(runtime, "client_overrides", {
        "poll_policy": PollPolicy(initial_interval=0.05, min_interval=0.05, max_interval=0.2, backoff=1.0,
                                  close_enough=0.2),
        "retry": RetryPolicy(max_attempts=2),
    })


@pytest.fixture
def local(sim: Any, monkeypatch: pytest.MonkeyPatch, fast_polls: None) -> Any:
    """Nodes with provider 'auto' talk to this test's simulator."""
    monkeypatch.setenv("SORA2_PROVIDER", "local")
    monkeypatch.setenv("SORA2_BASE_URL", sim.base_url)
    return sim


class FakeTime:
    """A clock that only moves when the client sleeps: replayed polls take no wall time."""

    def __init__(self) -> None:
        self.now = 1_760_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """Nodes talk to CometAPI as recorded in a cassette, with a fake key and a fake clock."""
    from sora2_bridge.nodes import runtime
    from sora2_bridge.shared import RetryPolicy

    fake = FakeTime()
    monkeypatch.setenv("SORA2_API_KEY", "sk-replay-only")
    monkeypatch.setattr(runtime, "client_overrides",
                        {"clock": fake.clock, "sleep": fake.sleep, "retry": RetryPolicy(max_attempts=3)})
    return fake


# ---------------------------------------------------------------------------------------- media
def encode_clip(dest: Path, *, width: int = 320, height: int = 240, seconds: float = 1.0, fps: int = 30,
                audio: bool = True, rate: int = 48000) -> Path:
    """A small H.264 (+ AAC) clip whose frame number is readable from its pixels (see ``frame_number``)."""
    import av
    import numpy as np

    n = int(round(seconds * fps))
    with av.open(str(dest), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "ultrafast", "qp": "0"}
        as_ = out.add_stream("aac", rate=rate, layout="stereo") if audio else None
        total, done = int(round(seconds * rate)), 0
        for i in range(n):
            rgb = np.empty((height, width, 3), dtype=np.uint8)
            rgb[:, : width // 2] = (i % 64) * 4
            rgb[:, width // 2 :] = (i // 64) * 4
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
            while as_ is not None and done < min(total, (i + 1) * rate // fps):
                k = min(1024, total - done)
                t = np.arange(done, done + k) / rate
                tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
                af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
                af.sample_rate, af.pts = rate, done
                done += k
                out.mux(as_.encode(af))
        out.mux(vs.encode(None))
        if as_ is not None:
            out.mux(as_.encode(None))
    return dest


def frame_number(rgb: Any) -> int:
    """Inverse of the pattern ``encode_clip`` draws (works on uint8 or 0..1 float frames)."""
    import numpy as np

    a = np.asarray(rgb, dtype=np.float32)
    if a.max() <= 1.0:
        a = a * 255.0
    h, w = a.shape[:2]
    left = float(a[h // 2, w // 4].mean())
    right = float(a[h // 2, 3 * w // 4].mean())
    return int(round(left / 4)) + 64 * int(round(right / 4))


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def make_clip(clip_dir: Path) -> Callable[..., Path]:
    """Encode (once per session) a test clip with the given parameters; returns its path."""

    def make(**kw: Any) -> Path:
        name = "clip-" + "-".join(f"{k}{v}" for k, v in sorted(kw.items())) + ".mp4"
        path = clip_dir / name
        if not path.exists():
            encode_clip(path, **kw)
        return path

    return make


@pytest.fixture(scope="session")
def helpers() -> Any:
    """Module-level helpers of this conftest, for tests (conftests are not importable by name)."""

    class H:
        encode_clip = staticmethod(encode_clip)
        frame_number = staticmethod(frame_number)
        Fraction = Fraction
        time = time

    return H
