"""What the Comfy Registry and ComfyUI-Manager read from the repository: [tool.comfy], requirements.txt, the icon."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import sora2_bridge

ROOT = Path(sora2_bridge.__file__).parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_tool_comfy_is_complete():
    comfy = PYPROJECT["tool"]["comfy"]
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", comfy["PublisherId"])
    assert comfy["DisplayName"]
    assert comfy["requires-comfyui"].startswith(">=")
    # the icon is served from the repository: the file it names is in it, square, at most 400x400
    icon = comfy["Icon"]
    prefix = PYPROJECT["project"]["urls"]["Repository"].replace("https://github.com/", "https://raw.githubusercontent.com/")
    assert icon.startswith(prefix + "/main/")
    from PIL import Image

    with Image.open(ROOT / icon.removeprefix(prefix + "/main/")) as image:
        assert image.width == image.height <= 400
    assert comfy["includes"] and all((ROOT / folder).is_dir() for folder in comfy["includes"])


def test_requirements_txt_is_the_project_dependencies():
    """ComfyUI-Manager installs a pack's dependencies from requirements.txt only."""
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    assert [line for line in lines if line and not line.startswith("#")] == PYPROJECT["project"]["dependencies"]
