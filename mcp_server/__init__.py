"""MCP server: built on sora2_bridge.shared; run it with ``sora2-mcp`` (see docs/mcp.md).

``create_server`` is imported lazily so importing the package does not need the ``mcp`` SDK.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Settings", "create_server"]


def __getattr__(name: str) -> Any:
    if name == "create_server":
        from .server import create_server

        return create_server
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(name)
