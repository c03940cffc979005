"""The example workflows in ComfyUI: no node covers another once drawn (previews included); each has a thumbnail."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

import sora2_bridge

ROOT = Path(sora2_bridge.__file__).parent
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))


@pytest.fixture(scope="module")
def layout():
    """bench/check_workflows_layout.py, the script anyone can run (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location("check_workflows_layout", ROOT / "bench" / "check_workflows_layout.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_node_covers_another(layout, path):
    assert layout.overlaps(json.loads(path.read_text(encoding="utf-8"))) == []


def test_the_check_sees_a_grown_preview_cover_the_next_title(layout):
    """Two Save Video nodes stacked as they were saved before the preview was drawn."""
    workflow = json.loads((ROOT / "workflows" / "sora2_remix_extend.json").read_text(encoding="utf-8"))
    first, second = (n for n in workflow["nodes"] if n["type"] == "SaveVideo")
    first["pos"], first["size"] = [940, 40], [420, 300]
    second["pos"] = [940, 380]
    found = layout.overlaps(workflow)
    assert [(a.node_id, b.node_id) for a, b, gap in found if gap < 0] == [(first["id"], second["id"])], found


def test_a_tall_clip_grows_its_preview_more_than_a_wide_one(layout):
    workflow = json.loads((ROOT / "workflows" / "sora2_text_to_video.json").read_text(encoding="utf-8"))
    save = next(n for n in workflow["nodes"] if n["type"] == "SaveVideo")
    save["size"] = [420, 0]
    wide = layout.node_box(workflow, save, {})
    tall_workflow = copy.deepcopy(workflow)
    source = next(n for n in tall_workflow["nodes"] if n["type"] == "Sora2BridgeVideo")
    source["widgets_values"][2] = "720x1280"
    tall = layout.node_box(tall_workflow, save, {})
    assert tall.bottom - tall.top > (wide.bottom - wide.top) + 300


def test_the_script_exits_1_on_an_overlap(layout, tmp_path, capsys):
    workflow = json.loads((ROOT / "workflows" / "sora2_load_job.json").read_text(encoding="utf-8"))
    workflow["nodes"][1]["pos"] = list(workflow["nodes"][0]["pos"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(workflow))
    assert layout.main([str(bad)]) == 1 and "overlap" in capsys.readouterr().out
    assert layout.main([str(p) for p in WORKFLOWS]) == 0


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_has_a_small_thumbnail_for_the_template_browser(path):
    """ComfyUI's template browser shows NAME.jpg beside NAME.json (made by bench/workflow_thumbnails.py)."""
    from PIL import Image

    thumbnail = path.with_suffix(".jpg")
    assert thumbnail.is_file(), f"missing {thumbnail.name}: run python bench/workflow_thumbnails.py"
    assert thumbnail.stat().st_size < 60_000
    with Image.open(thumbnail) as image:
        assert image.format == "JPEG" and image.size == (512, 288)
        low, high = image.convert("L").getextrema()
        assert high - low > 40  # a picture, not a blank card
