"""Test stand-in for ComfyUI's ``comfy`` package (see ../README.md)."""
