"""ComfyUI nodes (issue #4): Sora 2 inside larger graphs, built on sora2_bridge.shared.

Loaded lazily by the package root's ``comfy_entrypoint`` (ComfyUI's V3 node API); this package is the only place
that imports ComfyUI (``comfy_api.latest``) and torch. There is deliberately no ``NODE_CLASS_MAPPINGS``: a module
that has one gets its ``comfy_entrypoint`` ignored by ComfyUI's loader.

Modules: ``generate`` (Sora 2 Video / Remix / Extend), ``jobs`` (Load Job), ``clips`` (Frames, Join Clips),
``runtime`` (progress, Cancel, errors, restart cache), ``tensors`` (IMAGE/AUDIO conversions).
"""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io


class Sora2Extension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        from . import clips, generate, jobs

        return [*generate.NODES, *jobs.NODES, *clips.NODES]


async def comfy_entrypoint() -> Sora2Extension:
    from ..shared.redact import install_log_redaction

    install_log_redaction()  # ComfyUI's log handlers exist by now
    return Sora2Extension()


__all__ = ["Sora2Extension", "comfy_entrypoint"]
