"""Stand-in for ``comfy_api.latest``: the names custom nodes import from it (see ../../README.md)."""

from abc import ABC, abstractmethod

from . import _io as io
from . import _ui as ui
from ._video import VideoCodec, VideoComponents, VideoContainer, VideoFromComponents, VideoFromFile, VideoInput


class ComfyExtension(ABC):
    async def on_load(self) -> None:
        """Called once when the extension is loaded."""

    @abstractmethod
    async def get_node_list(self) -> list:
        """The node classes this extension provides."""


class Input:
    Video = VideoInput


class InputImpl:
    VideoFromFile = VideoFromFile
    VideoFromComponents = VideoFromComponents


class Types:
    VideoCodec = VideoCodec
    VideoContainer = VideoContainer
    VideoComponents = VideoComponents


comfy_io = io

__all__ = ["ComfyExtension", "Input", "InputImpl", "Types", "io", "comfy_io", "ui"]
