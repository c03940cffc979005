"""sora2-bridge: Sora 2 video generation for ComfyUI graphs, LLM agents (MCP) and the command line.

This file is both the package root of ``sora2_bridge`` and the entry ComfyUI loads for the custom-node folder,
so it imports nothing heavy and nothing from ComfyUI or MCP: ``import sora2_bridge.shared`` works in a plain Python.
"""

__version__ = "0.1.0"


async def comfy_entrypoint():
    """ComfyUI's V3 entry point: the node pack's ComfyExtension (imported only when ComfyUI asks for it)."""
    from .nodes import comfy_entrypoint as entrypoint

    return await entrypoint()
