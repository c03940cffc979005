"""The progress event every front end listens to: the CLI bar, ComfyUI's progress bar, MCP progress notifications."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    video_id: str
    # queued | in_progress | completed | failed | downloading | downloaded
    phase: str
    progress: int
    elapsed: float
    eta: float | None = None
    bytes_done: int | None = None
    bytes_total: int | None = None

    @property
    def text(self) -> str:
        """A short status line for a UI: "queued", "rendering 42% (~30s left)", "downloading 3.1/8.0 MB"."""
        if self.phase == "in_progress":
            eta = f" (~{self.eta:.0f}s left)" if self.eta is not None else ""
            return f"rendering {self.progress}%{eta}"
        if self.phase == "downloading" and self.bytes_done is not None:
            total = f"/{self.bytes_total / 1e6:.1f}" if self.bytes_total else ""
            return f"downloading {self.bytes_done / 1e6:.1f}{total} MB"
        return self.phase


ProgressCallback = Callable[[ProgressEvent], None]
