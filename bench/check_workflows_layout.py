"""Check that no node of a UI-format workflow covers another once ComfyUI has drawn it.

A workflow file stores each node's position and the size it had when saved. After a run, ComfyUI's frontend grows
the nodes that show a result (Save Video, Preview Image...) to fit the preview, which then covers whatever was
placed below them: typically the title bar of the next node, at the default zoom. This script computes each
node's box as the frontend draws it (title bar above ``pos``; slots and widgets; the preview area a result node
grows, at the aspect of the clip or images that reach it) and lists every pair of boxes that overlap or sit closer
than a small gap.

    python bench/check_workflows_layout.py                      # the workflows/ of this package
    python bench/check_workflows_layout.py path/to/*.json --object-info http://127.0.0.1:8188/object_info
    python bench/check_workflows_layout.py --object-info ComfyUI/object_info.json

``--object-info`` (a running ComfyUI's ``/object_info``, as a URL or a saved file) tells which widgets are
multi-line text boxes; without it a long text value is taken for one. Exit status 1 when something overlaps.
The sizes follow the LiteGraph constants of ComfyUI's frontend (title 30 px, slot rows 20 px, widget rows 24 px);
it errs on the large side, so a layout it accepts has room to spare in the browser.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TITLE_HEIGHT = 30
SLOT_HEIGHT = 20
WIDGET_HEIGHT = 24
MULTILINE_HEIGHT = 4 * WIDGET_HEIGHT  # a multi-line text box
BODY_PADDING = 10
PREVIEW_MARGIN = 16  # the preview widget's inset from the node's sides
GAP = 10  # the least free space wanted between two boxes

# Result nodes and what they grow to show once they ran.
VIDEO_PREVIEW = {"SaveVideo", "PreviewVideo", "SaveWEBM", "VHS_VideoCombine"}
IMAGE_PREVIEW = {"SaveImage", "PreviewImage", "SaveAnimatedWEBP", "SaveAnimatedPNG"}
TEXT_PREVIEW = {"PreviewAny": 3 * WIDGET_HEIGHT}
DEFAULT_ASPECT = 720 / 1280  # height / width of a clip whose size cannot be traced


@dataclass(frozen=True)
class Box:
    node_id: int
    title: str
    left: float
    top: float  # includes the title bar
    right: float
    bottom: float

    def gap_to(self, other: Box) -> float:
        """Free space between the boxes (negative: they overlap by that much in the tighter direction)."""
        dx = max(other.left - self.right, self.left - other.right)
        dy = max(other.top - self.bottom, self.top - other.bottom)
        return max(dx, dy)


def load_object_info(source: str | None) -> dict[str, Any]:
    if not source:
        return {}
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 - a URL the user gave
            return json.load(response)
    return json.loads(Path(source).read_text(encoding="utf-8"))


def _multiline_widgets(node_type: str, object_info: dict[str, Any]) -> set[str] | None:
    info = object_info.get(node_type)
    if not info:
        return None
    names = set()
    for section in ("required", "optional"):
        for name, spec in (info.get("input", {}).get(section) or {}).items():
            if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict) and spec[1].get("multiline"):
                names.add(name)
    return names


def widget_height(node: dict[str, Any], object_info: dict[str, Any]) -> float:
    """Rows of the node's widgets; a multi-line text box counts four."""
    values = node.get("widgets_values") or []
    if isinstance(values, dict):  # some nodes save their widgets by name
        values = list(values.values())
    multiline = _multiline_widgets(node["type"], object_info)
    if multiline is None:  # no node definition: a long text is taken for a text box
        boxes = sum(1 for v in values if isinstance(v, str) and (len(v) > 40 or "\n" in v))
    else:
        boxes = min(len(multiline), len(values))
    return boxes * MULTILINE_HEIGHT + (len(values) - boxes) * WIDGET_HEIGHT


def _links(workflow: dict[str, Any]) -> dict[int, tuple[int, int]]:
    """link id -> (origin node id, origin slot)."""
    return {link[0]: (link[1], link[2]) for link in workflow.get("links", [])}


def clip_aspect(workflow: dict[str, Any], node_id: int, seen: frozenset[int] = frozenset()) -> float:
    """Height/width of what reaches ``node_id``: the ``size`` widget of the nearest Sora 2 node upstream."""
    nodes = {n["id"]: n for n in workflow["nodes"]}
    node = nodes.get(node_id)
    if node is None or node_id in seen:
        return DEFAULT_ASPECT
    for value in node.get("widgets_values") or []:
        if isinstance(value, str) and "x" in value and value.replace("x", "").isdigit():
            width, height = (int(v) for v in value.split("x"))
            return height / width
    links = _links(workflow)
    for slot in node.get("inputs", []):
        if slot.get("link") in links:
            return clip_aspect(workflow, links[slot["link"]][0], seen | {node_id})
    return DEFAULT_ASPECT


def node_box(workflow: dict[str, Any], node: dict[str, Any], object_info: dict[str, Any]) -> Box:
    x, y = node["pos"][:2] if isinstance(node["pos"], list) else (node["pos"]["0"], node["pos"]["1"])
    width, saved_height = node.get("size", [200, 100])[:2]
    sockets = [s for s in node.get("inputs", []) if "widget" not in s]
    height = max(len(sockets), len(node.get("outputs", []))) * SLOT_HEIGHT + widget_height(node, object_info)
    height += BODY_PADDING
    kind = node["type"]
    if kind in VIDEO_PREVIEW or kind in IMAGE_PREVIEW:
        height += (width - PREVIEW_MARGIN) * clip_aspect(workflow, node["id"]) + BODY_PADDING
    height += TEXT_PREVIEW.get(kind, 0)
    height = max(height, saved_height)
    title = node.get("title") or kind
    return Box(node["id"], title, x, y - TITLE_HEIGHT, x + width, y + height)


def overlaps(workflow: dict[str, Any], object_info: dict[str, Any] | None = None) -> list[tuple[Box, Box, float]]:
    """Every pair of nodes closer than GAP once drawn, with the free space between them (negative = overlap)."""
    boxes = [node_box(workflow, n, object_info or {}) for n in workflow["nodes"]]
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            gap = a.gap_to(b)
            if gap < GAP:
                found.append((a, b, gap))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workflows", nargs="*", type=Path,
                        help="UI-format workflow files (default: this package's workflows/*.json)")
    parser.add_argument("--object-info", help="a running ComfyUI's /object_info URL, or a saved copy of it")
    args = parser.parse_args(argv)
    files = args.workflows or sorted((Path(__file__).resolve().parent.parent / "workflows").glob("*.json"))
    object_info = load_object_info(args.object_info)
    bad = 0
    for path in files:
        workflow = json.loads(path.read_text(encoding="utf-8"))
        problems = overlaps(workflow, object_info)
        bad += len(problems)
        print(f"{path.name}: {'ok' if not problems else f'{len(problems)} overlap(s)'}")
        for a, b, gap in problems:
            what = f"overlap by {-gap:.0f} px" if gap < 0 else f"only {gap:.0f} px apart"
            print(f"  #{a.node_id} {a.title} {a.left:.0f},{a.top:.0f}-{a.right:.0f},{a.bottom:.0f} and "
                  f"#{b.node_id} {b.title} {b.left:.0f},{b.top:.0f}-{b.right:.0f},{b.bottom:.0f}: {what}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
