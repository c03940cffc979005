"""The node pack as ComfyUI's loader and node library see it: entry point, schemas, no secrets anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import sora2_bridge
from sora2_bridge.nodes import Sora2Extension, characters, clips, generate, jobs, storyboard

ROOT = Path(sora2_bridge.__file__).parent
EXPECTED = {
    "Sora2BridgeVideo": ("Sora 2 Video", ["VIDEO", "STRING", "IMAGE", "FLOAT"]),
    "Sora2BridgeRemix": ("Sora 2 Remix", ["VIDEO", "STRING", "IMAGE", "FLOAT"]),
    "Sora2BridgeExtend": ("Sora 2 Extend", ["VIDEO", "STRING", "IMAGE", "FLOAT"]),
    "Sora2BridgeCharacter": ("Sora 2 Character", ["STRING"]),
    "Sora2BridgeLoadJob": ("Sora 2 Load Job", ["VIDEO", "STRING", "IMAGE", "FLOAT"]),
    "Sora2BridgeFrames": ("Sora 2 Frames", ["IMAGE", "AUDIO", "FLOAT"]),
    "Sora2BridgeJoinClips": ("Sora 2 Join Clips", ["VIDEO"]),
    "Sora2BridgeStoryboard": ("Sora 2 Storyboard", ["VIDEO", "STRING", "IMAGE", "FLOAT"]),
}


async def node_list():
    extension = await sora2_bridge.comfy_entrypoint()
    assert isinstance(extension, Sora2Extension)
    await extension.on_load()
    return await extension.get_node_list()


async def test_entrypoint_registers_every_node_under_one_category():
    from comfy_api.latest import ComfyExtension

    nodes = await node_list()
    assert isinstance(await sora2_bridge.comfy_entrypoint(), ComfyExtension)
    infos = {n.GET_SCHEMA().node_id: n.GET_NODE_INFO_V1() for n in nodes}
    assert set(infos) == set(EXPECTED)
    for node_id, info in infos.items():
        name, outputs = EXPECTED[node_id]
        assert info["display_name"] == name and info["category"] == "Sora 2"
        assert info["output"] == outputs and len(info["description"]) > 30
        assert all(info["output_tooltips"]), node_id
        for group in ("required", "optional"):
            for input_name, (_type, opts) in info["input"].get(group, {}).items():
                assert opts.get("tooltip"), f"{node_id}.{input_name} has no tooltip"
        json.dumps(info)  # what /object_info serves must be JSON


def test_sora2_video_interface_matches_the_builtin_node_where_it_overlaps():
    info = generate.Sora2Video.GET_NODE_INFO_V1()
    req, opt = info["input"]["required"], info["input"]["optional"]
    assert list(req) == ["prompt", "model", "size", "seconds", "fit", "seed"]
    assert req["prompt"][1]["multiline"] is True
    assert {"sora-2", "sora-2-pro"} <= set(req["model"][1]["options"]) and req["model"][1]["default"] == "sora-2"
    # the built-in OpenAIVideoSora2 offers these four sizes and 4/8/12 s; we offer them and the 2026 additions
    assert {"720x1280", "1280x720", "1024x1792", "1792x1024"} <= set(req["size"][1]["options"])
    assert [4, 8, 12, 16, 20] == req["seconds"][1]["options"]
    assert req["seed"][1]["control_after_generate"] is True and req["seed"][1]["max"] == 2147483647
    assert opt["image"][0] == "IMAGE" and req["fit"][1]["options"] == ["crop", "pad", "stretch"]
    assert info["input"]["hidden"] == {"unique_id": ("UNIQUE_ID",)}


def test_no_node_class_mappings_anywhere():
    offenders = [p for p in ROOT.rglob("*.py") if "NODE_CLASS_MAPPINGS" in p.read_text()
                 and "tests" not in p.relative_to(ROOT).parts and p.name != "__init__.py"]
    offenders += [p for p in (ROOT / "__init__.py", ROOT / "nodes" / "__init__.py")
                  if "NODE_CLASS_MAPPINGS =" in p.read_text()]
    assert offenders == []
    assert not hasattr(sora2_bridge, "NODE_CLASS_MAPPINGS")
    import sora2_bridge.nodes as nodes_pkg

    assert not hasattr(nodes_pkg, "NODE_CLASS_MAPPINGS")


def test_package_imports_without_comfyui_or_torch():
    code = ("import sys, sora2_bridge, sora2_bridge.shared, sora2_bridge.shared.video;"
            "bad = [m for m in ('torch', 'comfy_api', 'comfy', 'server') if m in sys.modules];"
            "assert not bad, bad; assert callable(sora2_bridge.comfy_entrypoint)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


@pytest.mark.parametrize("node", [*generate.NODES, *characters.NODES, *jobs.NODES, *clips.NODES, *storyboard.NODES])
def test_no_widget_can_hold_a_key(node, monkeypatch):
    secret = "sk-fake-SECRET-do-not-leak-0123456789"
    monkeypatch.setenv("SORA2_API_KEY", secret)
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("COMETAPI_KEY", secret)
    info = json.dumps(node.GET_NODE_INFO_V1(), default=str)
    assert secret not in info  # no default is ever prefilled from the environment
    names = [i.id.lower() for i in node.GET_SCHEMA().inputs]
    assert not [n for n in names if any(w in n for w in ("key", "token", "secret", "password"))]
