"""ComfyUI nodes (issue #4): built on sora2_bridge.shared."""
