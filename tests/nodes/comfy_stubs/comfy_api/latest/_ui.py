"""Stand-in for ``comfy_api.latest._ui`` (nothing of it is used by the nodes yet)."""
