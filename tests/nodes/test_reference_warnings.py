"""Sora 2 Video tells, in its status text and the log, that a tiny reference image will look blurry."""

from __future__ import annotations

import logging

import torch

from sora2_bridge.nodes.generate import Sora2Video

PROMPT = "A paper boat drifting down a rainy street, close-up, sound of rain"
SAID = "Warning: the reference image is 10x10; it is enlarged 128x to 1280x720 and will look blurry"


async def test_a_tiny_reference_is_warned_in_status_and_log(comfy, local, caplog):
    caplog.set_level(logging.INFO)
    out = await comfy.run(Sora2Video, prompt=PROMPT, size="1280x720", fit="crop", seed=11,
                          image=torch.full((1, 10, 10, 3), 0.5))
    video_id = out.args[1]
    assert comfy.texts and all(t.startswith(SAID) for t in comfy.texts)  # kept in front of every status line
    assert any(t.endswith(f"{video_id}: done") for t in comfy.texts)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "enlarged 128x" in r.getMessage()]
    assert len(warned) == 1
    created = next(i for i, r in enumerate(caplog.records) if video_id in r.getMessage())
    assert caplog.records.index(warned[0]) < created  # said before the job existed


async def test_a_guessed_price_is_said_before_paying(comfy, local, caplog):
    """A model the provider table lacks (a saved workflow, a new name) is priced at the highest rate: said so."""
    caplog.set_level(logging.INFO)
    out = await comfy.run(Sora2Video, prompt=PROMPT, model="sora-2-next", size="1280x720", seed=12)
    assert comfy.texts and all(t.startswith("Warning: unknown model: priced at the highest rate") for t in comfy.texts)
    warned = [r for r in caplog.records if "unknown model" in r.getMessage()]
    created = next(i for i, r in enumerate(caplog.records) if out.args[1] in r.getMessage())
    assert warned and caplog.records.index(warned[0]) < created
