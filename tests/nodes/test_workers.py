"""Several ComfyUI workers (separate processes, as a render farm runs them) sharing one record: the same inputs and
seed queued on all of them at once make one job, paid once, on a shared SQLite data folder or on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import STUBS

PROMPT = "A paper boat drifting down a rainy street, close-up, sound of rain"

# One worker: the pack loaded as ComfyUI loads it (stand-ins for what ComfyUI provides when it is not installed),
# then the Sora 2 Video node executed as ComfyUI's executor does, once every worker is ready.
WORKER = """
import asyncio, importlib.util, sys, time
from pathlib import Path
if importlib.util.find_spec("comfy_api") is None:
    sys.path.insert(0, sys.argv[1])
import server
from comfy_api.latest import io

class Quiet:
    def send_progress_text(self, *args, **kwargs): pass
    def add_on_prompt_handler(self, handler): pass

server.PromptServer.instance = Quiet()
from sora2_bridge.nodes import runtime
from sora2_bridge.nodes.generate import Sora2Video
from sora2_bridge.shared import PollPolicy

runtime.client_overrides = {"poll_policy": PollPolicy(initial_interval=0.05, min_interval=0.05, max_interval=0.2,
                                                      backoff=1.0, close_enough=0.2)}
values = {i.id: i.default for i in Sora2Video.GET_SCHEMA().inputs if getattr(i, "default", None) is not None}
values.update(prompt=sys.argv[3], seconds=4, seed=7)
clone = Sora2Video.PREPARE_CLASS_CLONE({io.Hidden.unique_id: "1"})
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
out = asyncio.run(clone.EXECUTE_NORMALIZED_ASYNC(**values))
print(out.args[1])
"""


def creates(sim) -> int:
    return httpx.get(f"{sim.root_url}/_sim/stats").json()["requests"].get("create", 0)


def test_workers_queued_the_same_inputs_and_seed_pay_once(sim, record_target, tmp_path):
    sim.faults.endpoints = ["create"]
    sim.faults.latency_ms = 800  # a real service takes about a second to answer a create: all ask meanwhile
    base = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "SORA2_PROVIDER": "local",
            "SORA2_BASE_URL": sim.base_url}
    if isinstance(record_target, str):  # a team: each worker on its own machine, one database
        envs = [{**base, "SORA2_DATABASE_URL": record_target, "SORA2_DATA_DIR": str(tmp_path / f"worker{i}")}
                for i in range(3)]
    else:  # one machine: the workers share its data folder
        envs = [{**base, "SORA2_DATA_DIR": str(record_target.parent)} for _ in range(3)]
    go = tmp_path / "go"
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(STUBS), str(go), PROMPT], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for env in envs]
    time.sleep(2.0)  # every worker has imported the pack and waits
    go.touch()
    try:
        results = [w.communicate(timeout=120) for w in workers]
    finally:
        for w in workers:
            w.kill()
    video_ids = [out.strip().splitlines()[-1] if out.strip() else "" for out, _ in results]
    assert len(set(video_ids)) == 1 and video_ids[0].startswith("video_"), [err[-600:] for _, err in results]
    assert creates(sim) == 1
