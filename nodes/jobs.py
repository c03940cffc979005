"""Sora 2 Load Job: a video_id -> its clip, to recover what was paid for (after a Cancel, a restart, the CLI...).

Uses the local file when the shared job record has one, else downloads the content (one request for a finished
job), and waits with progress when the job is still running. Nothing new is paid for.
"""

from __future__ import annotations


from comfy_api.latest import io

from ..shared.errors import InvalidInputError
from ..shared.models import validate_video_id
from .generate import clip_output, provider_inputs
from .runtime import CATEGORY, NodeError, NodeRun


class Sora2LoadJob(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Sora2BridgeLoadJob",
            display_name="Sora 2 Load Job",
            category=CATEGORY,
            description="Load a clip by its video_id: from the local job record if it was downloaded before, else "
                        "from the service (waiting if it is still rendering). Never starts a new job.",
            inputs=[
                io.String.Input("video_id", default="",
                                tooltip="e.g. video_68f1... (shown when a Sora 2 node was cancelled; also in "
                                        "`sora2 list --local`)."),
                *provider_inputs(),
            ],
            outputs=[
                io.Video.Output("clip", display_name="video", tooltip="The clip, as ComfyUI's VIDEO type."),
                io.String.Output("clip_id", display_name="video_id", tooltip="The same id, for chaining."),
                io.Image.Output("last_frame", display_name="last_frame", tooltip="The clip's final frame."),
                io.Float.Output("cost_usd", display_name="cost_usd",
                                tooltip="What the clip cost when it was made, if the local record knows (else 0)."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    async def execute(cls, video_id: str, provider: str = "auto", base_url: str = "") -> io.NodeOutput:
        try:
            vid = validate_video_id(video_id)
        except InvalidInputError as exc:
            raise NodeError(str(exc)) from None
        async with NodeRun.open(cls.hidden.unique_id, provider, base_url) as run:
            clip = await run.collect(vid)
            assert clip is not None
            return await clip_output(clip)


NODES = [Sora2LoadJob]
