"""ComfyUI nodes: Sora 2 inside larger graphs, built on sora2_bridge.shared.

Loaded lazily by the package root's ``comfy_entrypoint`` (ComfyUI's V3 node API); this package is the only place
that imports ComfyUI (``comfy_api.latest``) and torch. There is deliberately no ``NODE_CLASS_MAPPINGS``: a module
that has one gets its ``comfy_entrypoint`` ignored by ComfyUI's loader.

Modules: ``generate`` (Sora 2 Video / Remix / Extend), ``characters`` (Character, and the character sockets of
the nodes that make new clips), ``jobs`` (Load Job), ``clips`` (Frames, Join Clips),
``storyboard`` (Storyboard: a whole film from one storyboard), ``runtime`` (progress, Cancel, errors, restart
cache), ``validation`` (queue-time checks, one message per problem), ``tensors`` (IMAGE/AUDIO conversions).
"""

from __future__ import annotations

import logging

from comfy_api.latest import ComfyExtension, io

# Loggers of the HTTP stack: at INFO, httpx writes a line per request (every poll, every retry) into ComfyUI's log.
HTTP_LOGGERS = ("httpx", "httpcore")


class Sora2Extension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        from . import characters, clips, generate, jobs, storyboard

        return [*generate.NODES, *characters.NODES, *jobs.NODES, *clips.NODES, *storyboard.NODES]


def quiet_http_logs() -> None:
    """Keep the HTTP stack below INFO in ComfyUI's log (whose root logger is at INFO), unless someone chose a level
    for it: the nodes log one line per state change of a job themselves."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


async def comfy_entrypoint() -> Sora2Extension:
    from ..shared.redact import install_log_redaction
    from . import validation

    install_log_redaction()  # ComfyUI's log handlers exist by now
    quiet_http_logs()
    validation.install()  # ComfyUI's server exists by now too
    return Sora2Extension()


__all__ = ["Sora2Extension", "comfy_entrypoint", "quiet_http_logs"]
