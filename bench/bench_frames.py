"""Benchmark of Sora 2 Frames' decoding: a 12 s 1280x720 clip to an IMAGE batch, against the ffmpeg CLI.

Time: ``shared.video.decode_frames`` filling a float32 torch tensor (what the node does) vs ``ffmpeg -i clip -an
-f null -``, which decodes every frame and converts nothing (the floor for any decoder on this machine).
Memory: peak resident memory of each decode, measured in a fresh process, vs the size of the tensor it returns.
Rows with a stride or a frame cap show that memory follows what is asked for, not the clip's length. One row
decodes the way a list-then-stack decoder does (ComfyUI's ``get_components``): about twice the output at peak.
The "floor" row only allocates the full float32 batch and writes it once: producing 4 GB of float32 costs that
much whatever the decoder, so compare the full-decode row with it as well as with ffmpeg.

Run: ``python bench/bench_frames.py [--repeat 3] [--no-stack]``. Prints markdown tables plus machine info.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = [
    # name, kwargs for decode_frames
    ("all frames, float32", {}),
    ("every 4th frame", {"stride": 4}),
    ("first 48 frames", {"max_frames": 48}),
    ("every 4th from 6 s, cap 24", {"start": 6.0, "stride": 4, "max_frames": 24}),
    ("all frames, uint8", {"dtype": "uint8"}),
]

# Runs in a fresh interpreter per case, so the peak RSS (ru_maxrss) belongs to that one decode.
CHILD = r"""
import json, resource, sys, time
import numpy as np
from sora2_bridge.shared.video import decode_frames, plan_frames, probe

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()

path, kw, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
try:
    import torch
except ImportError:
    torch = None
info = probe(path)
dtype = np.uint8 if kw.pop("dtype", "float32") == "uint8" else np.float32
plan = plan_frames(info, kw.get("start", 0.0), kw.get("stride", 1), kw.get("max_frames"))
base = rss()
before_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
if mode == "touch":
    # the floor for any decoder that returns this batch: allocate it and write every byte once
    t = torch.empty((plan.count, info.height, info.width, 3), dtype=torch.float32) if torch is not None else None
    out = t.numpy() if t is not None else np.empty((plan.count, info.height, info.width, 3), np.float32)
    out.fill(0.5)
elif mode == "stack":
    # the list-then-stack pattern: every frame converted, kept in a list, then stacked into one array
    import av
    frames = []
    with av.open(path) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24").astype(np.float32) / 255.0)
    out = np.stack(frames)
    del frames
elif torch is not None and dtype == np.float32:
    t = torch.empty((plan.count, info.height, info.width, 3), dtype=torch.float32)
    out = decode_frames(path, out=t.numpy(), dtype=dtype, **kw)
else:
    out = decode_frames(path, dtype=dtype, **kw)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": elapsed, "frames": int(out.shape[0]), "out_bytes": int(out.nbytes),
                  "peak_delta": max(peak, before_peak) - base, "torch": torch is not None}))
"""


def machine_info() -> str:
    import av

    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    return (f"- CPU: {cpu}, {os.cpu_count()} logical cores; Python {platform.python_version()}\n"
            f"- PyAV {av.__version__} (libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}); {ffmpeg}")


def render_clip(directory: Path) -> Path:
    from sora2_bridge.shared.simulator.render import MediaCache, RenderSpec

    spec = RenderSpec("benchmark: a paper boat on a rainy street", "1280x720", 12, "sora-2")
    return MediaCache(directory).ensure(spec).video


def time_ffmpeg(clip: Path, repeat: int) -> float:
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(clip), "-an", "-f", "null", "-"]
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        runs.append(time.perf_counter() - start)
    return min(runs)


def run_case(clip: Path, kw: dict, mode: str, repeat: int) -> dict:
    results = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", CHILD, str(clip), json.dumps(kw), mode],
                             check=True, capture_output=True, text=True)
        results.append(json.loads(out.stdout))
    best = min(results, key=lambda r: r["seconds"])
    best["peak_delta"] = statistics.median(r["peak_delta"] for r in results)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (best time, median memory)")
    parser.add_argument("--no-stack", action="store_true", help="skip the list-then-stack reference row (8 GB)")
    parser.add_argument("--clip", type=Path, help="decode this file instead of rendering the 12 s 720p clip")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("the ffmpeg CLI is needed for the baseline: apt-get install -y ffmpeg")

    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or render_clip(Path(tmp))
        from sora2_bridge.shared.video import probe

        info = probe(clip)
        ff = time_ffmpeg(clip, args.repeat)
        print("## Frames benchmark: decoding a clip to an IMAGE batch\n")
        print(machine_info())
        print(f"- clip: {info.width}x{info.height}, {float(info.fps):g} fps, {info.frames} frames, "
              f"{info.duration:.1f} s, {info.video_codec} + {info.audio_codec}; "
              f"`ffmpeg -i clip -an -f null -`: {ff:.2f} s (best of {args.repeat})\n")
        print("| case | frames | output (MB) | peak RSS added (MB) | peak / output | time (s) | time / ffmpeg |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        cases = [(name, kw, "ours") for name, kw in CASES]
        cases.append(("floor: allocate + write the float32 batch once, no decoding", {}, "touch"))
        if not args.no_stack:
            cases.append(("list + stack, float32 (reference)", {}, "stack"))
        for name, kw, mode in cases:
            r = run_case(clip, kw, mode, 1 if mode == "stack" else args.repeat)
            out_mb, peak_mb = r["out_bytes"] / 2**20, r["peak_delta"] / 2**20
            print(f"| {name} | {r['frames']} | {out_mb:,.0f} | {peak_mb:,.0f} | {peak_mb / out_mb:.2f} | "
                  f"{r['seconds']:.2f} | {r['seconds'] / ff:.2f}x |")
        print("\nPeak RSS added = the process's peak resident memory minus its resident memory just before "
              "decoding; 'peak / output' near 1.0 means nothing but the returned batch (plus a few frames in flight) was held.")


if __name__ == "__main__":
    main()
