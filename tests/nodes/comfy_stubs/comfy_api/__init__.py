"""Test stand-in for ComfyUI's ``comfy_api`` package (see ../README.md)."""
