"""The ``sora2`` command line: generate, follow, download and manage Sora 2 clips, or run the local simulator.

Exit codes scripts can trust: 0 success, 2 bad input or configuration (nothing was sent), 1 a service or job
failure, 130 interrupted (the job id is printed so the work paid for can be collected later).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .shared.client import AsyncSoraClient
from .shared.config import resolve_config
from .shared.errors import Sora2Error
from .shared.media import FIT_MODES, fit_reference, load_image_file
from .shared.models import VARIANT_SUFFIX, VARIANTS, Video
from .shared.pricing import estimate_cost, format_usd
from .shared.progress import ProgressEvent
from .shared.providers import DEFAULT_PROVIDER, PROVIDERS, get_provider

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class _State:
    """What the Ctrl-C handler needs to tell the user: the job that keeps running on the service."""

    video_id: str | None = None


# ---------------------------------------------------------------------------------------------- arguments
def _add_globals(p: argparse.ArgumentParser, default: Any) -> None:
    """Options valid before or after the command; after it, SUPPRESS keeps them from overwriting earlier ones."""
    p.add_argument("--provider", choices=sorted(PROVIDERS), default=default,
                   help="service to use (default: $SORA2_PROVIDER or cometapi)")
    p.add_argument("--base-url", default=default, help="base URL of a compatible service, e.g. https://host/v1")
    p.add_argument("--json", action="store_true", default=default or False, help="print machine-readable JSON")
    p.add_argument("--simulate", action="store_true", default=default or False,
                   help="run against an in-process local simulator (no key, no network, free)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sora2", description="Sora 2 video generation from the command line.")
    p.add_argument("--version", action="version", version=f"sora2-bridge {__version__}")
    _add_globals(p, None)
    # The same options are accepted after the command too (`sora2 generate ... --simulate`).
    common = argparse.ArgumentParser(add_help=False)
    _add_globals(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    def waiting(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("-o", "--output", help="file or folder for the MP4 (default: ./<video_id>.mp4)")
        sp.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
        sp.add_argument("--timeout", type=float, default=3600.0, help="give up waiting after this many seconds")

    g = add("generate", help="create a clip, wait for it and download it")
    g.add_argument("prompt")
    g.add_argument("--model", help="model name (default: the provider's, sora-2)")
    g.add_argument("--size", default="720x1280", help="WIDTHxHEIGHT, e.g. 1280x720 (default 720x1280)")
    g.add_argument("--seconds", default="4", help="clip length: 4, 8, 12 (16, 20 where offered)")
    g.add_argument("--image", help="first frame: a JPEG/PNG/WebP file (fitted to --size)")
    g.add_argument("--fit", choices=FIT_MODES, default="crop", help="how to fit --image to --size (default crop)")
    waiting(g)

    s = add("status", help="show a job (from the service, and where it was saved locally)")
    s.add_argument("video_id")

    d = add("download", help="wait for a job if needed and download it")
    d.add_argument("video_id")
    d.add_argument("--variant", choices=VARIANTS, default="video")
    d.add_argument("-o", "--output", help="file or folder (default: ./<video_id>.<ext>)")
    d.add_argument("--timeout", type=float, default=3600.0)

    r = add("remix", help="a new clip from a finished one, changed as the prompt says")
    r.add_argument("video_id")
    r.add_argument("prompt")
    waiting(r)

    e = add("extend", help="continue a finished clip by --seconds")
    e.add_argument("video_id")
    e.add_argument("prompt")
    e.add_argument("--seconds", required=True)
    waiting(e)

    ed = add("edit", help="edit a finished clip as the prompt says")
    ed.add_argument("video_id")
    ed.add_argument("prompt")
    waiting(ed)

    ls = add("list", help="list jobs on the service (or in the local record with --local)")
    ls.add_argument("--local", action="store_true", help="list this machine's record of paid jobs (no network)")
    ls.add_argument("--limit", type=int, default=20)

    rm = add("delete", help="delete a job and its files on the service")
    rm.add_argument("video_id")

    c = add("cost", help="estimate the price of a clip before spending (no network)")
    c.add_argument("--model")
    c.add_argument("--size", default="720x1280")
    c.add_argument("--seconds", default="4")

    sim = add("simulate", help="serve the local Sora 2 simulator on loopback")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--speed", type=float, default=1.0, help="render speed multiplier (higher = faster)")
    sim.add_argument("--data-dir", help="keep jobs and media here across restarts")
    sim.add_argument("--fault-rate-limit", type=float, default=0.0, help="fraction of API calls answered 429")
    sim.add_argument("--fault-server-error", type=float, default=0.0, help="fraction of API calls answered 5xx")
    sim.add_argument("--fault-drop-downloads", type=int, default=0, help="cut the next N downloads mid-way")
    sim.add_argument("--fault-lose-creates", type=int, default=0, help="create the next N jobs but lose the answer")
    sim.add_argument("--fault-latency-ms", type=int, default=0, help="extra latency per API call")
    sim.add_argument("--policy-marker", default="__policy__", help="prompts containing this fail moderation")
    sim.add_argument("--max-running-jobs", type=int, default=4, help="running jobs before 429 'Too many running tasks'")
    _storyboard_arguments(add("storyboard", help="make a film from a storyboard file; `storyboard status FILE`"))
    return p


# ---------------------------------------------------------------------------------------------- helpers
@contextlib.asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[AsyncSoraClient]:
    """A client for the chosen provider, or for an in-process simulator with ``--simulate``."""
    if args.simulate:
        from .shared.simulator import SimulatorConfig, SimulatorServer

        with SimulatorServer(SimulatorConfig(prerender=True)) as sim:
            config = resolve_config("local", sim.base_url)
            async with AsyncSoraClient(config) as client:
                yield client
    else:
        async with AsyncSoraClient(resolve_config(args.provider, args.base_url)) as client:
            yield client


@contextlib.contextmanager
def progress_bar(enabled: bool) -> Iterator[Any]:
    """A live bar on stderr that follows ProgressEvents; silent with --json or when stderr is not a terminal."""
    if not enabled:
        yield None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=100)

        def update(ev: ProgressEvent) -> None:
            if ev.phase == "downloading" and ev.bytes_total:
                bar.update(task, description=f"{ev.video_id}: {ev.text}", completed=100 * ev.bytes_done / ev.bytes_total)
            else:
                bar.update(task, description=f"{ev.video_id}: {ev.text}", completed=ev.progress)

        yield update


def _video_dict(video: Video, **extra: Any) -> dict[str, Any]:
    return {**video.model_dump(mode="json"), **extra}


def _emit(args: argparse.Namespace, data: dict[str, Any], human: str) -> None:
    if args.json:
        out.print_json(json.dumps(data))
    else:
        out.print(human, highlight=False)


def _default_output(args: argparse.Namespace, video_id: str, suffix: str = ".mp4") -> Path:
    if getattr(args, "output", None):
        return Path(args.output)
    return Path.cwd() / f"{video_id}{suffix}"


async def _follow(client: AsyncSoraClient, args: argparse.Namespace, video: Video, cost: float | None,
                  **extra: Any) -> int:
    """Wait for a job and download it; the shared tail of generate/remix/extend/edit/download (``extra``: JSON keys)."""
    _State.video_id = video.id
    if getattr(args, "no_wait", False):
        _emit(args, _video_dict(video, cost_usd=cost, **extra), f"Started {video.id} ({video.status}). "
              f"Collect it with: sora2 download {video.id}")
        return 0
    with progress_bar(not args.json and err.is_terminal) as update:
        video = await client.wait(video.id, on_progress=update, deadline=args.timeout)
        variant = getattr(args, "variant", "video")
        path = await client.download_content(
            video.id, _default_output(args, video.id, VARIANT_SUFFIX[variant]), variant=variant, on_progress=update
        )
    _State.video_id = None
    _emit(args, _video_dict(video, file=str(path), cost_usd=cost, **extra), f"Saved {path} ({video.id}, {video.seconds}s {video.size})")
    return 0


# ---------------------------------------------------------------------------------------------- commands
async def cmd_generate(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        image, warnings = None, []
        if args.image:
            fitted = fit_reference(load_image_file(args.image), args.size.strip().lower(), args.fit)
            image, warnings = fitted.image, fitted.warnings
        for warning in warnings:  # on stderr before anything is paid, also with --json
            err.print(f"Warning: {warning}.", highlight=False, markup=False)
        req = client.build_request(args.prompt, model=args.model, size=args.size, seconds=args.seconds,
                                   input_reference=image)
        cost = client.estimate(req)
        if not args.json:
            note = " (simulated: free)" if args.simulate else ""
            err.print(f"Estimated cost: {format_usd(cost)}{note} - {req.model}, {req.size}, {req.seconds}s "
                      f"on {client.config.provider}", highlight=False)
        video = await client.create_from_request(req)
        if not args.json:
            err.print(f"Created {video.id}", highlight=False)
        return await _follow(client, args, video, cost, warnings=warnings)


async def cmd_status(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        video = await client.retrieve(args.video_id)
        row = client.record.get(video.id) if client.record else None
        local = row.files if row else {}
        line = f"{video.id}: {video.status} {video.progress}%"
        if video.error:
            line += f" - {video.error.code}: {video.error.message}"
        if local.get("video"):
            line += f"\n  saved at {local['video']}"
        _emit(args, _video_dict(video, local_files=local), line)
        return 1 if video.status == "failed" else 0


async def cmd_download(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        video = await client.retrieve(args.video_id)
        return await _follow(client, args, video, None)


async def cmd_derived(args: argparse.Namespace) -> int:
    """remix / extend / edit: a new job from a finished one, then the same wait and download as generate."""
    async with open_client(args) as client:
        if args.command == "extend":
            video, cost = await client.extend(args.video_id, args.prompt, args.seconds), None
        else:
            start = client.remix if args.command == "remix" else client.edit
            video = await start(args.video_id, args.prompt)
            cost = client.cost_of(video)
        return await _follow(client, args, video, cost)


async def cmd_list(args: argparse.Namespace) -> int:
    if args.local:
        from .shared.config import data_dir
        from .shared.record import RECORD_FILE, JobRecord

        rows = JobRecord(data_dir() / RECORD_FILE).list(args.limit)
        if args.json:
            out.print_json(json.dumps([r.as_dict() for r in rows]))
            return 0
        table = Table("id", "provider", "status", "model", "size", "s", "cost", "file", "prompt")
        for r in rows:
            table.add_row(r.id, r.provider, r.status, r.model or "", r.size or "", r.seconds or "",
                          format_usd(r.cost_usd) if r.cost_usd is not None else "", r.video_file or "",
                          (r.prompt or "")[:40])
        out.print(table)
        return 0
    async with open_client(args) as client:
        videos = [v async for v in client.list(limit=min(args.limit, 100), max_items=args.limit)]
    if args.json:
        out.print_json(json.dumps([v.model_dump(mode="json") for v in videos]))
        return 0
    table = Table("id", "status", "progress", "model", "size", "s", "prompt")
    for v in videos:
        table.add_row(v.id, v.status, f"{v.progress}%", v.model or "", v.size or "", v.seconds or "", (v.prompt or "")[:50])
    out.print(table)
    return 0


async def cmd_delete(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        result = await client.delete(args.video_id)
    _emit(args, result.model_dump(mode="json"), f"Deleted {result.id}")
    return 0


async def cmd_cost(args: argparse.Namespace) -> int:
    from .shared.models import build_create_request

    name = args.provider or ("local" if args.simulate else os.environ.get("SORA2_PROVIDER", DEFAULT_PROVIDER))
    provider = get_provider(name)
    req = build_create_request(provider, "price check", args.model, args.size, args.seconds)
    usd = estimate_cost(provider, req.model, req.size, req.seconds)
    _emit(args, {"provider": provider.name, "model": req.model, "size": req.size, "seconds": req.seconds, "usd": usd},
          f"{format_usd(usd)} for {req.seconds}s of {req.model} at {req.size} on {provider.name}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from .shared.simulator.server import serve

    serve(
        host=args.host,
        port=args.port,
        speed=args.speed,
        data_dir=args.data_dir,
        max_running_jobs=args.max_running_jobs,
        faults={
            "rate_limit_fraction": args.fault_rate_limit,
            "server_error_fraction": args.fault_server_error,
            "drop_download_next": args.fault_drop_downloads,
            "lose_create_next": args.fault_lose_creates,
            "latency_ms": args.fault_latency_ms,
            "policy_marker": args.policy_marker,
        },
    )
    return 0


# ---------------------------------------------------------------------------------------------- storyboard
def _storyboard_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("file", help="storyboard (YAML or JSON); or the word `status` followed by the file")
    sp.add_argument("status_file", nargs="?", help=argparse.SUPPRESS)
    sp.add_argument("-o", "--output", help="the film (default: output.film of the storyboard, film.mp4)")
    sp.add_argument("--max-usd", type=float, help="refuse to start if the estimated total is above this")
    sp.add_argument("--dry-run", action="store_true", help="print the plan, the order and the prices; send nothing")


async def cmd_storyboard(args: argparse.Namespace) -> int:
    """``sora2 storyboard FILE``: plan, check the budget, run every shot with one progress line each, join.

    ``--dry-run`` and ``storyboard status FILE`` never open a connection: the plan and the job record are local.
    """
    from rich.progress import Progress as Bars

    from .shared.outputs import check_output
    from .shared.pricing import format_usd as usd
    from .shared.storyboard import (StoryboardFailed, load_storyboard, plan_storyboard, run_storyboard,
                                    storyboard_status)
    from .shared.storyboard.plan import describe_join

    status_only = args.file == "status" and args.status_file is not None
    path = Path(args.status_file if status_only else args.file)
    sb = load_storyboard(path)
    provider = args.provider or ("local" if args.simulate else sb.defaults.provider)

    def plan_for(provider_name: str, base_url: str) -> Any:
        return plan_storyboard(sb, provider_name, base_url=base_url, base_dir=path.parent, film=args.output)

    def show_plan(plan: Any) -> None:
        table = Table("#", "shot", "start", "model", "seconds", "join after", "price")
        for n, shot_id in enumerate(plan.order, 1):
            s = plan.shot(shot_id)
            start = s.kind if s.source is None else f"{s.kind} {s.source}"
            if s.image_path:
                start = f"image {Path(s.image_path).name}"
            if not s.in_film:
                start += " (inside its extension)"
            seconds = f"+{s.added_seconds}" if s.added_seconds else str(s.seconds)
            table.add_row(str(n), s.id, start, s.model, seconds, describe_join(s.join_after), usd(s.cost_usd))
        out.print(table)
        out.print(f"Total: {usd(plan.total_usd)} for {len(plan.shots)} shots on {plan.provider.name}; film of "
                  f"{len(plan.film_shots)} shots: {plan.film}", highlight=False)

    if status_only or args.dry_run:
        # The key is never used here: it only lets the provider's base URL resolve without one.
        config = resolve_config(provider, args.base_url, api_key="not-needed-offline")
        plan = plan_for(config.provider, config.base_url)
        if args.dry_run and not status_only:
            plan.check_budget(args.max_usd)
            if args.json:
                out.print_json(json.dumps({**plan.as_dict(), "sent": False}))
            else:
                show_plan(plan)
            return 0
        from .shared.config import data_dir
        from .shared.record import RECORD_FILE, JobRecord

        states = storyboard_status(plan, JobRecord(data_dir() / RECORD_FILE))
        left = round(sum(s.cost_usd for s in states if s.state != "done"), 4)
        done = sum(1 for s in states if s.state == "done")
        if args.json:
            out.print_json(json.dumps({"storyboard_id": plan.id, "shots": [s.as_dict() for s in states],
                                       "done": done, "left": len(states) - done, "left_usd": left}))
            return 0
        table = Table("shot", "state", "video id", "file", "price if made")
        for st in states:
            table.add_row(st.id, st.state, st.video_id or "", st.file or "", usd(st.cost_usd) if st.state != "done"
                          else "")
        out.print(table)
        out.print(f"{done} of {len(states)} shots done; the rest costs about {usd(left)}.", highlight=False)
        return 0

    async with open_client(args) as client:
        plan = plan_for(client.config.provider, client.config.base_url)
        plan.check_budget(args.max_usd)
        check_output(plan.film, overwrite=True)
        for warning in plan.warnings:  # before anything is paid, also with --json
            err.print(f"Warning: {warning}.", highlight=False, markup=False)
        if not args.json:
            note = " (simulated: free)" if args.simulate else ""
            err.print(f"Estimated cost: {usd(plan.total_usd)}{note} for {len(plan.shots)} shots on "
                      f"{client.config.provider}", highlight=False)
        shots_dir = plan.film.parent / f"{plan.film.stem}-shots"
        with contextlib.ExitStack() as stack:
            on_event = None
            if not args.json and err.is_terminal:  # one line per shot, and one for the film
                bars = stack.enter_context(Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                                TaskProgressColumn(), TimeElapsedColumn(), console=err))
                lines = {s.id: bars.add_task(f"{s.id}: planned", total=100) for s in plan.shots}
                lines[None] = bars.add_task("film: after the shots", total=100)

                def draw(ev: Any) -> None:
                    bars.update(lines[ev.shot_id], completed=ev.progress,
                                description=f"{ev.shot_id or 'film'}: {ev.message or ev.phase}")

                on_event = draw
            try:
                result = await run_storyboard(client, plan, out_dir=shots_dir, on_event=on_event)
            except StoryboardFailed as exc:
                if args.json:
                    out.print_json(json.dumps(exc.result.as_dict()))
                raise
    reused = sum(1 for s in result.shots if s.reused)
    _emit(args, result.as_dict(), f"Saved {result.film} ({len(result.shots)} shots, {reused} reused; "
          f"spent {usd(result.spent_usd)}) and the contact sheet {result.contact_sheet}")
    return 0


COMMANDS = {
    "generate": cmd_generate, "status": cmd_status, "download": cmd_download, "remix": cmd_derived,
    "extend": cmd_derived, "edit": cmd_derived, "list": cmd_list, "delete": cmd_delete, "cost": cmd_cost,
    "storyboard": cmd_storyboard,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "simulate":
            return cmd_simulate(args)
        return asyncio.run(COMMANDS[args.command](args))
    except KeyboardInterrupt:
        if _State.video_id:
            err.print(f"\nStopped waiting. {_State.video_id} keeps rendering on the service and is in the local "
                      f"record; collect it with: sora2 download {_State.video_id}", highlight=False)
        return 130
    except Sora2Error as exc:
        err.print(f"error: {exc}", style="red", markup=False, highlight=False)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
