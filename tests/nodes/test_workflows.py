"""workflows/*.json: valid UI-format graphs, wired to nodes that exist with matching types, and runnable.

The core node definitions below are copied facts from a real ComfyUI's ``GET /object_info`` (snapshot of
2025-10-12, see the project's shared/comfyui notes): input names and types in order, widget options, outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import sora2_bridge
from sora2_bridge.shared import JobRecord
from sora2_bridge.shared.config import data_dir
from sora2_bridge.nodes import characters, clips, generate, jobs, storyboard

WORKFLOWS = sorted((Path(sora2_bridge.__file__).parent / "workflows").glob("*.json"))
OURS = {n.GET_SCHEMA().node_id: n for n in [*generate.NODES, *characters.NODES, *jobs.NODES, *clips.NODES,
                                             *storyboard.NODES]}
SOCKET_ONLY = {"IMAGE", "VIDEO", "AUDIO", "MASK", "LATENT", "*"}

# name -> (inputs in order: (name, type, options or None), outputs: [type], extra widget values after the widgets)
CORE: dict[str, tuple[list[tuple[str, str, list | None]], list[str], int]] = {
    "LoadImage": ([("image", "COMBO", None)], ["IMAGE", "MASK"], 1),  # + the upload button's value
    "SaveVideo": ([("video", "VIDEO", None), ("filename_prefix", "STRING", None), ("format", "COMBO", ["auto", "mp4"]),
                   ("codec", "COMBO", ["auto", "h264"])], [], 0),
    "CreateVideo": ([("images", "IMAGE", None), ("fps", "FLOAT", None), ("audio", "AUDIO", None)], ["VIDEO"], 0),
    "GetVideoComponents": ([("video", "VIDEO", None)], ["IMAGE", "AUDIO", "FLOAT"], 0),
    "LoadVideo": ([("file", "COMBO", None)], ["VIDEO"], 1),
    "PreviewImage": ([("images", "IMAGE", None)], [], 0),
    "SaveImage": ([("images", "IMAGE", None), ("filename_prefix", "STRING", None)], [], 0),
    "ImageScale": ([("image", "IMAGE", None), ("upscale_method", "COMBO", None), ("width", "INT", None),
                    ("height", "INT", None), ("crop", "COMBO", None)], ["IMAGE"], 0),
    "ImageFromBatch": ([("image", "IMAGE", None), ("batch_index", "INT", None), ("length", "INT", None)], ["IMAGE"], 0),
    "PreviewAny": ([("source", "*", None)], [], 0),
    "PrimitiveString": ([("value", "STRING", None)], ["STRING"], 0),
}


def node_spec(type_: str) -> tuple[list[tuple[str, str, Any]], list[str], int]:
    """Inputs (name, type, input object or options), output types, extra widget values, for ours or a core node."""
    if type_ in OURS:
        schema = OURS[type_].GET_SCHEMA()
        extra = sum(1 for i in schema.inputs if getattr(i, "control_after_generate", None))
        return [(i.id, i.io_type, i) for i in schema.inputs], [o.io_type for o in schema.outputs], extra
    return CORE[type_]


def socket_only(io_type: str, obj: Any) -> bool:
    """Drawn as a socket without a widget, so it has no place in ``widgets_values`` (a forceInput STRING too)."""
    return io_type in SOCKET_ONLY or bool(getattr(obj, "force_input", None))


def widget_names(type_: str) -> list[str]:
    names = []
    for name, io_type, obj in node_spec(type_)[0]:
        if socket_only(io_type, obj):
            continue
        names.append(name)
        if getattr(obj, "control_after_generate", None):
            names.append(f"{name}:control_after_generate")
    return names


def widget_map(node: dict) -> dict[str, Any]:
    return dict(zip(widget_names(node["type"]), node["widgets_values"], strict=False))


def compatible(out_type: str, in_type: str) -> bool:
    return out_type == in_type or "*" in (out_type, in_type)


def test_there_are_workflows_for_every_use_case():
    names = {p.stem for p in WORKFLOWS}
    assert {"sora2_text_to_video", "sora2_image_to_video", "sora2_three_shots", "sora2_remix_extend",
            "sora2_frames_and_audio", "sora2_load_job", "sora2_storyboard", "sora2_character_two_shots"} <= names
    used = {n["type"] for p in WORKFLOWS for n in json.loads(p.read_text())["nodes"]}
    assert set(OURS) <= used  # every node appears in at least one example


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_is_a_valid_ui_graph(path: Path):
    doc = json.loads(path.read_text())
    assert doc["version"] == 0.4 and isinstance(doc["links"], list) and isinstance(doc["nodes"], list)
    assert {"groups", "config", "extra", "last_node_id", "last_link_id"} <= set(doc)
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert len(nodes) == len(doc["nodes"]) and doc["last_node_id"] >= max(nodes)
    assert doc["last_link_id"] >= max((link[0] for link in doc["links"]), default=0)
    for n in doc["nodes"]:
        assert n["type"] in OURS or n["type"] in CORE, f"unknown node type {n['type']}"
        assert {"pos", "size", "inputs", "outputs", "properties", "widgets_values", "mode", "order"} <= set(n)
        inputs, outputs, extra = node_spec(n["type"])
        assert len(n["widgets_values"]) == len(widget_names(n["type"])) + (extra if n["type"] in CORE else 0), n["type"]
        for name, value in widget_map(n).items():
            obj = next((o for i, t, o in inputs if i == name), None)
            options = obj if isinstance(obj, list) else getattr(obj, "options", None)
            if options is not None:
                assert value in options, f"{n['type']}.{name}={value!r} not in {options}"
            if name.endswith(":control_after_generate"):
                assert value in ("fixed", "increment", "decrement", "randomize")
        assert [o["type"] for o in n["outputs"]] == outputs, n["type"]
        input_types = {i: t for i, t, _ in inputs}
        for slot in n["inputs"]:
            assert slot["name"] in input_types and slot["type"] == input_types[slot["name"]], (n["type"], slot)
    for link_id, src, src_slot, dst, dst_slot, typ in doc["links"]:
        out = nodes[src]["outputs"][src_slot]
        into = nodes[dst]["inputs"][dst_slot]
        assert out["type"] == typ and link_id in (out["links"] or []) and into["link"] == link_id
        assert compatible(typ, into["type"]), f"link {link_id}: {typ} -> {into['type']}"
    # every required socket is connected (the graph can be queued as it is)
    for n in doc["nodes"]:
        linked = {s["name"] for s in n["inputs"] if s.get("link") is not None}
        for name, io_type, obj in node_spec(n["type"])[0]:
            required = not getattr(obj, "optional", False) and name not in ("audio",)
            if socket_only(io_type, obj) and required:
                assert name in linked, f"{path.stem}: {n['type']}.{name} is not connected"


def test_no_key_in_any_workflow(monkeypatch):
    for path in WORKFLOWS:
        text = path.read_text()
        assert "sk-" not in text and "api_key" not in text.lower() and "bearer" not in text.lower()


# ------------------------------------------------------------------------------------------ running the graphs
def execution_order(doc: dict) -> list[dict]:
    nodes = {n["id"]: n for n in doc["nodes"]}
    deps = {i: {link[1] for link in doc["links"] if link[3] == i} for i in nodes}
    order: list[int] = []
    while len(order) < len(nodes):
        ready = [i for i in nodes if i not in order and deps[i] <= set(order)]
        assert ready, "the graph has a cycle"
        order.extend(sorted(ready))
    return [nodes[i] for i in order]


async def run_workflow(doc: dict, comfy: Any, tmp_path: Path, overrides: dict | None = None,
                       uploaded_video: Path | None = None) -> dict:
    """Run our nodes for real (against the simulator) and stand in for the core ones; returns outputs by node id.

    ``uploaded_video`` is the file a Load Video node stands for (what the user uploaded to ComfyUI's input folder).
    """
    from comfy_api.latest import InputImpl, Types

    links = {link[0]: link for link in doc["links"]}
    results: dict[int, tuple] = {}
    for node in execution_order(doc):
        values = {k: v for k, v in widget_map(node).items() if ":" not in k}
        values.update((overrides or {}).get(node["id"], {}))
        for slot in node["inputs"]:
            if slot.get("link") is not None:
                _, src, src_slot, *_ = links[slot["link"]]
                values[slot["name"]] = results[src][src_slot]
        t = node["type"]
        if t in OURS:
            out = await comfy.run(OURS[t], str(node["id"]), **values)
            results[node["id"]] = tuple(out.args)
        elif t == "LoadImage":
            image = torch.rand((1, 480, 640, 3))
            results[node["id"]] = (image, torch.zeros((1, 480, 640)))
        elif t == "LoadVideo":  # as ComfyUI's: the uploaded file, lazily, as a VIDEO
            assert uploaded_video is not None, f"{node['id']}: no video to load"
            results[node["id"]] = (InputImpl.VideoFromFile(str(uploaded_video)),)
        elif t == "SaveVideo":
            dest = tmp_path / f"{values['filename_prefix'].replace('/', '_')}_{node['id']}.mp4"
            values["video"].save_to(str(dest), metadata={"workflow": doc})
            assert dest.stat().st_size > 1000
            results[node["id"]] = (dest,)
        elif t == "CreateVideo":
            comps = Types.VideoComponents(images=values["images"], audio=values.get("audio"),
                                          frame_rate=__import__("fractions").Fraction(values["fps"]).limit_denominator(1000))
            results[node["id"]] = (InputImpl.VideoFromComponents(comps),)
        elif t == "PreviewImage":
            images = values["images"]
            assert images.ndim == 4 and images.shape[-1] == 3 and images.dtype == torch.float32
            results[node["id"]] = ()
        elif t == "PreviewAny":
            results[node["id"]] = (str(values["source"]),)
        else:
            raise AssertionError(f"no stand-in for core node {t}")
    return results


def outputs_of(doc: dict, results: dict, node_type: str) -> list[tuple]:
    """The outputs of every node of ``node_type``, in node id order."""
    return [results[n["id"]] for n in sorted(doc["nodes"], key=lambda n: n["id"]) if n["type"] == node_type]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
async def test_workflow_runs_against_the_simulator(path, comfy, local, tmp_path, make_clip):
    from sora2_bridge.shared.video import probe

    doc = json.loads(path.read_text())
    overrides = {}
    if path.stem == "sora2_load_job":  # recover a clip that exists: make one first, then load it by id
        made = await comfy.run(generate.Sora2Video, prompt="A paper boat drifting down a rainy street, close-up, "
                               "sound of rain", seed=0)
        loader = next(n for n in doc["nodes"] if n["type"] == "Sora2BridgeLoadJob")
        overrides[loader["id"]] = {"video_id": made.args[1]}
    results = await run_workflow(doc, comfy, tmp_path, overrides,
                                 uploaded_video=make_clip(width=64, height=64, seconds=0.5, audio=False))
    saved = [r[0] for n, r in results.items() if r and isinstance(r[0], Path)]
    assert saved or path.stem == "sora2_text_to_video"
    for file in saved:
        info = probe(file)
        assert info.has_audio and info.frames > 0
    if path.stem == "sora2_three_shots":
        joined = next(r[0] for n, r in results.items()
                      if next(x for x in doc["nodes"] if x["id"] == n)["type"] == "Sora2BridgeJoinClips")
        assert probe(joined.get_stream_source()).duration == pytest.approx(12.0, abs=0.2)
    if path.stem == "sora2_storyboard":  # three 4 s shots, one film; the contact sheet reached Preview Image
        film, ids, sheet, _ = next(r for n, r in results.items()
                                   if next(x for x in doc["nodes"] if x["id"] == n)["type"] == "Sora2BridgeStoryboard")
        assert probe(film.get_stream_source()).duration == pytest.approx(12.0, abs=0.2)
        assert list(json.loads(ids)) == ["fold", "launch", "night"] and sheet.shape[0] == 1
    if path.stem == "sora2_character_two_shots":  # both shots name the one character; the film is 8 s
        (character_id,) = outputs_of(doc, results, "Sora2BridgeCharacter")[0]
        shots = outputs_of(doc, results, "Sora2BridgeVideo")
        record = JobRecord(data_dir() / "jobs.sqlite3")
        for _, video_id, _, _ in shots:
            assert record.get(video_id).request["characters"] == [{"id": character_id}], video_id
            assert local.state.jobs[video_id].characters == ["Mochi"]  # what the service drew
        (joined,) = outputs_of(doc, results, "Sora2BridgeJoinClips")[0]
        assert probe(joined.get_stream_source()).duration == pytest.approx(8.0, abs=0.2)
