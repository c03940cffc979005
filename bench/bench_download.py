"""Download: a 200 MB video over loopback. Throughput vs `curl -o`, and the client's peak memory growth
(goal: under 32 MB, i.e. streamed) vs the obvious alternative of reading the whole body (`response.content`).

The file is served by a separate process (Python's http.server, laid out as /v1/videos/<id>/content) so the
server's memory never counts against the client, and each client runs in its own fresh process.

    python bench/bench_download.py [--mb 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MP4_HEAD = b"\x00\x00\x00\x18ftypmp42"
CLIENT = r"""
import asyncio, json, resource, sys, time
from pathlib import Path
import httpx
from sora2_bridge.shared import AsyncSoraClient, resolve_config

base, out, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

async def main():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    if mode == "ours":
        async with AsyncSoraClient(resolve_config("local", base), record=False) as c:
            await c.download_content("video_big", out)
    else:
        async with httpx.AsyncClient() as c:
            r = await c.get(base + "/videos/video_big/content", params={"variant": "video"})
            out.write_bytes(r.content)
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": dt, "rss_growth_mb": (peak - before) / 1024}))

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-dl-"))
    content = root / "v1" / "videos" / "video_big" / "content"
    content.parent.mkdir(parents=True)
    with content.open("wb") as fh:
        fh.write(MP4_HEAD)  # the client checks that the body starts like an MP4
        chunk = os.urandom(1 << 20)
        for _ in range(args.mb):
            fh.write(chunk)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        time.sleep(1.0)
        rows = {"ours (streamed)": [], "whole body in memory": [], "curl -o": []}
        for _ in range(args.runs):
            for mode, label in (("ours", "ours (streamed)"), ("naive", "whole body in memory")):
                out = root / f"out-{mode}.mp4"
                res = subprocess.run([sys.executable, "-c", CLIENT, base, str(out), mode], capture_output=True,
                                     text=True, check=True)
                data = json.loads(res.stdout)
                assert out.stat().st_size == (args.mb << 20) + len(MP4_HEAD)
                rows[label].append((data["seconds"], data["rss_growth_mb"]))
                out.unlink()
            if shutil.which("curl"):
                t = time.perf_counter()
                subprocess.run(["curl", "-s", "-o", str(root / "curl.mp4"), base + "/videos/video_big/content"],
                               check=True)
                rows["curl -o"].append((time.perf_counter() - t, float("nan")))
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"{args.mb} MB over loopback from http.server, best of {args.runs}\n")
        print("| client | time, s | MB/s | peak RSS growth, MB | time vs curl |")
        print("|---|---|---|---|---|")
        curl_best = min(t for t, _ in rows["curl -o"]) if rows["curl -o"] else float("nan")
        for label, values in rows.items():
            if not values:
                continue
            best = min(t for t, _ in values)
            mem = max(m for _, m in values)
            mem_text = "n/a (separate binary)" if mem != mem else f"{mem:.1f}"
            print(f"| {label} | {best:.2f} | {args.mb / best:.0f} | {mem_text} | {best / curl_best:.2f}x |")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
