"""Stand-in for ComfyUI's VIDEO classes (``comfy_api.latest`` Input.Video / InputImpl / Types).

``VideoFromFile`` is lazy like ComfyUI's: metadata comes from the container; ``get_components`` decodes every
frame (float32 [T, H, W, 3]) and the audio ([1, C, T]); ``save_to`` copies the streams (adding metadata tags).
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Any, Optional

import av
import numpy as np
import torch


class VideoContainer(str, Enum):
    AUTO = "auto"
    MP4 = "mp4"

    @classmethod
    def as_input(cls):
        return [m.value for m in cls]

    @classmethod
    def get_extension(cls, value):
        return "mp4"


class VideoCodec(str, Enum):
    AUTO = "auto"
    H264 = "h264"

    @classmethod
    def as_input(cls):
        return [m.value for m in cls]


@dataclass
class VideoComponents:
    images: torch.Tensor
    frame_rate: Fraction
    audio: Optional[dict] = None
    metadata: Optional[dict] = None


class VideoInput(ABC):
    @abstractmethod
    def get_components(self) -> VideoComponents: ...

    @abstractmethod
    def save_to(self, path, format=VideoContainer.AUTO, codec=VideoCodec.AUTO, metadata=None): ...

    def get_stream_source(self):
        buf = io.BytesIO()
        self.save_to(buf)
        buf.seek(0)
        return buf

    def get_dimensions(self):
        images = self.get_components().images
        return images.shape[2], images.shape[1]

    def get_duration(self):
        c = self.get_components()
        return float(c.images.shape[0] / c.frame_rate)

    def get_container_format(self):
        with av.open(self.get_stream_source(), mode="r") as container:
            return container.format.name


class VideoFromFile(VideoInput):
    def __init__(self, file):
        self._file = file

    def get_stream_source(self):
        if isinstance(self._file, io.BytesIO):
            self._file.seek(0)
        return self._file

    def get_dimensions(self):
        with av.open(self.get_stream_source(), mode="r") as c:
            for s in c.streams:
                if s.type == "video":
                    return s.width, s.height
        raise ValueError(f"No video stream found in file '{self._file}'")

    def get_duration(self):
        with av.open(self.get_stream_source(), mode="r") as c:
            if c.duration is not None:
                return float(c.duration / av.time_base)
            v = c.streams.video[0]
            return float(v.frames / v.average_rate)

    def get_container_format(self):
        with av.open(self.get_stream_source(), mode="r") as c:
            return c.format.name

    def get_components(self):
        with av.open(self.get_stream_source(), mode="r") as c:
            frames = [torch.from_numpy(f.to_ndarray(format="rgb24")) / 255.0 for f in c.decode(video=0)]
            images = torch.stack(frames) if frames else torch.zeros(0, 3, 0, 0)
            v = c.streams.video[0]
            rate = Fraction(v.average_rate) if v.average_rate else Fraction(1)
            audio = None
            if c.streams.audio:
                c.seek(0)
                chunks = [f.to_ndarray() for f in c.decode(audio=0)]
                if chunks:
                    audio = {"waveform": torch.from_numpy(np.concatenate(chunks, axis=1)).unsqueeze(0),
                             "sample_rate": int(c.streams.audio[0].sample_rate or 1)}
            return VideoComponents(images=images, audio=audio, frame_rate=rate, metadata=dict(c.metadata))

    def save_to(self, path, format=VideoContainer.AUTO, codec=VideoCodec.AUTO, metadata=None):
        with av.open(self.get_stream_source(), mode="r") as src:
            kwargs: dict[str, Any] = {"mode": "w", "options": {"movflags": "use_metadata_tags"}}
            if isinstance(path, io.BytesIO):
                kwargs["format"] = "mp4"
            with av.open(path, **kwargs) as out:
                for k, v in (metadata or {}).items():
                    out.metadata[k] = v if isinstance(v, str) else json.dumps(v)
                mapping = {}
                for s in src.streams:
                    if s.type in ("video", "audio"):
                        mapping[s] = out.add_stream_from_template(template=s, opaque=True)
                for packet in src.demux():
                    if packet.stream in mapping and packet.dts is not None:
                        packet.stream = mapping[packet.stream]
                        out.mux(packet)


class VideoFromComponents(VideoInput):
    def __init__(self, components: VideoComponents):
        self._components = components

    def get_components(self):
        c = self._components
        return VideoComponents(images=c.images, audio=c.audio, frame_rate=c.frame_rate)

    def save_to(self, path, format=VideoContainer.AUTO, codec=VideoCodec.AUTO, metadata=None):
        c = self._components
        kwargs: dict[str, Any] = {"mode": "w", "options": {"movflags": "use_metadata_tags"}}
        if isinstance(path, io.BytesIO):
            kwargs["format"] = "mp4"
        with av.open(path, **kwargs) as out:
            for k, v in (metadata or {}).items():
                out.metadata[k] = json.dumps(v)
            vs = out.add_stream("h264", rate=Fraction(round(c.frame_rate * 1000), 1000))
            vs.width, vs.height, vs.pix_fmt = c.images.shape[2], c.images.shape[1], "yuv420p"
            as_ = None
            if c.audio is not None:  # every stream is added before the first packet is written
                rate = int(c.audio["sample_rate"])
                as_ = out.add_stream("aac", rate=rate)
            for img in c.images:
                rgb = (img * 255).clamp(0, 255).byte().cpu().numpy()
                out.mux(vs.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            out.mux(vs.encode(None))
            if as_ is not None:
                wave = c.audio["waveform"][0].float().numpy()
                # keep the sound as long as the pictures
                wave = wave[:, : int(np.ceil(rate / c.frame_rate * c.images.shape[0]))]
                layout = "mono" if wave.shape[0] == 1 else "stereo"
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave.T.reshape(1, -1)), format="flt",
                                                   layout=layout)
                frame.sample_rate, frame.pts = rate, 0
                out.mux(as_.encode(frame))
                out.mux(as_.encode(None))
