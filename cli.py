"""The ``sora2`` command line: generate, follow, download and manage Sora 2 clips, or run the local simulator.

Exit codes scripts can trust: 0 success, 2 bad input or configuration (nothing was sent), 1 a service or job
failure, 130 interrupted (the job id is printed so the work paid for can be collected later).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import traceback
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .shared.characters import MAX_CHARACTERS_PER_VIDEO, require_characters, validate_character_ids
from .shared.client import AsyncSoraClient
from .shared.config import provider_table, resolve_config
from .shared.errors import APIError, DownloadError, InvalidInputError, JobFailedError, Sora2Error
from .shared.media import FIT_MODES, fit_reference, load_image_file
from .shared.models import VARIANT_SUFFIX, VARIANTS, Video, validate_video_id
from .shared.outputs import check_folder, check_output
from .shared.pricing import describe_estimate, estimate_cost, format_usd, price_note
from .shared.progress import ProgressEvent
from .shared.providers import PROVIDERS, Provider
from .shared.record import JobRecord, open_record
from .shared.redact import install_log_redaction

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class _State:
    """What an error or Ctrl-C must tell the user: the job this run is about, and whether it exists on the service
    as a job to collect later (created or followed by this run)."""

    video_id: str | None = None
    collect = False

    @classmethod
    def reset(cls) -> None:
        cls.video_id, cls.collect = None, False


# ---------------------------------------------------------------------------------------------- printing
# Prompts, paths, model names, ids and service messages can hold anything, including rich markup ("[/bold]"),
# emoji codes (":x:") and terminal escapes. Every line the CLI prints goes through ``say`` or ``cell``: the text
# becomes a rich ``Text`` (never parsed as markup, never highlighted) with control characters shown as escapes.


_ESCAPED = frozenset({"Cc", "Cs", "Zl", "Zp"})  # control characters, lone surrogates, line/paragraph separators


def visible(text: object, *, one_line: bool = False) -> str:
    r"""``text`` as printable characters: control characters become ``\xNN``-style escapes so a service cannot move
    the cursor, recolour or clear the user's terminal; lone surrogates (no terminal encodes them) and Unicode line
    separators likewise. Newlines stay unless ``one_line``."""
    keep = "" if one_line else "\n"
    return "".join(
        c if c in keep or unicodedata.category(c) not in _ESCAPED else c.encode("unicode_escape").decode()
        for c in str(text)
    )


def say(console: Console, message: str, *, style: str = "") -> None:
    """Print one message as literal text (the only way the CLI prints a human line)."""
    console.print(Text(visible(message), style=style))


def cell(value: object) -> Text:
    """A table cell holding ``value`` literally, on one line."""
    return Text(visible("" if value is None else value, one_line=True))


def count(n: int, noun: str) -> str:
    """``1 character``, ``2 characters``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def write_json(data: dict[str, Any]) -> None:
    """One JSON object on stdout, written as is (ASCII-escaped, so any text survives any terminal encoding)."""
    out.file.write(json.dumps(data, indent=2, ensure_ascii=True) + "\n")
    out.file.flush()


# ---------------------------------------------------------------------------------------------- arguments
class UsageError(Exception):
    """argparse refused the command line; raised instead of exiting so ``--json`` can answer in JSON."""

    def __init__(self, usage: str, prog: str, message: str) -> None:
        super().__init__(message)
        self.usage, self.prog, self.message = usage, prog, message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(self.format_usage(), self.prog, message)


def number(cast: type[int] | type[float], *, above: float | None = None,
           within: tuple[float, float] | None = None) -> Callable[[str], Any]:
    """An argparse type for a finite number in range, so a value that cannot work is refused before any client
    exists (``--timeout -5`` would otherwise create and pay for a job, then stop waiting at once)."""

    def parse(text: str) -> int | float:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if cast is int else 'a number'}, got {text!r}"
            ) from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"must be greater than {above:g}, got {text}")
        if within is not None and not within[0] <= value <= within[1]:
            raise argparse.ArgumentTypeError(f"must be between {within[0]:g} and {within[1]:g}, got {text}")
        return value

    parse.__name__ = cast.__name__
    return parse


def _add_globals(p: argparse.ArgumentParser, default: Any) -> None:
    """Options valid before or after the command; after it, SUPPRESS keeps them from overwriting earlier ones."""
    p.add_argument("--provider", choices=sorted(PROVIDERS), default=default,
                   help="service to use (default: $SORA2_PROVIDER or cometapi)")
    p.add_argument("--base-url", default=default, help="base URL of a compatible service, e.g. https://host/v1")
    p.add_argument("--json", action="store_true", default=default or False,
                   help="print one JSON object on stdout, errors included")
    p.add_argument("--simulate", action="store_true", default=default or False,
                   help="run against an in-process local simulator (no key, no network, free)")


MAX_LIST = 1000
positive_seconds = number(float, above=0)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sora2", description="Sora 2 video generation from the command line.")
    p.add_argument("--version", action="version", version=f"sora2-bridge {__version__}")
    _add_globals(p, None)
    # The same options are accepted after the command too (`sora2 generate ... --simulate`).
    common = _Parser(add_help=False)
    _add_globals(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    def saving(sp: argparse.ArgumentParser, what: str) -> None:
        sp.add_argument("-o", "--output", help=f"file or folder for the {what} (default: ./<video_id>.<ext>)")
        sp.add_argument("--overwrite", action="store_true", help="replace an existing file at the output path")
        sp.add_argument("--timeout", type=positive_seconds, default=3600.0,
                        help="give up waiting after this many seconds (default 3600)")

    def waiting(sp: argparse.ArgumentParser) -> None:
        saving(sp, "MP4")
        sp.add_argument("--no-wait", action="store_true", help="print the job id and return at once")

    g = add("generate", help="create a clip, wait for it and download it")
    g.add_argument("prompt")
    g.add_argument("--model", help="model name (default: the provider's, sora-2)")
    g.add_argument("--size", default="720x1280", help="WIDTHxHEIGHT, e.g. 1280x720 (default 720x1280)")
    g.add_argument("--seconds", default="4", help="clip length: 4, 8, 12 (16, 20 where offered)")
    g.add_argument("--image", help="first frame: a JPEG/PNG/WebP file (fitted to --size)")
    g.add_argument("--fit", choices=FIT_MODES, default="crop", help="how to fit --image to --size (default crop)")
    g.add_argument("--character", action="append", dest="characters", metavar="ID",
                   help=f"a character (from `sora2 character create`) that appears in the clip; repeat for "
                        f"up to {MAX_CHARACTERS_PER_VIDEO}")
    waiting(g)

    s = add("status", help="show a job (from the service, and where it was saved locally)")
    s.add_argument("video_id")

    d = add("download", help="wait for a job if needed and download it")
    d.add_argument("video_id")
    d.add_argument("--variant", choices=VARIANTS, default="video")
    saving(d, "file")

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
    ls.add_argument("--limit", type=number(int, within=(1, MAX_LIST)), default=20,
                    help=f"at most this many jobs, newest first (1-{MAX_LIST}, default 20)")

    rm = add("delete", help="delete a job and its files on the service")
    rm.add_argument("video_id")

    _character_arguments(add("character", help="make a figure once from a short video, then name it in clips "
                                               "(`generate --character ID`)"), common)

    c = add("cost", help="estimate the price of a clip before spending (no network)")
    c.add_argument("--model")
    c.add_argument("--size", default="720x1280")
    c.add_argument("--seconds", default="4")

    sim = add("simulate", help="serve the local Sora 2 simulator on loopback")
    sim.add_argument("--host", default="127.0.0.1")
    fraction, count = number(float, within=(0, 1)), number(int, within=(0, 10**6))
    sim.add_argument("--port", type=number(int, within=(1, 65535)), default=8765)
    sim.add_argument("--speed", type=number(float, above=0), default=1.0,
                     help="render speed multiplier (higher = faster)")
    sim.add_argument("--data-dir", help="keep jobs and media here across restarts")
    sim.add_argument("--fault-rate-limit", type=fraction, default=0.0, help="fraction of API calls answered 429")
    sim.add_argument("--fault-server-error", type=fraction, default=0.0, help="fraction of API calls answered 5xx")
    sim.add_argument("--fault-drop-downloads", type=count, default=0, help="cut the next N downloads mid-way")
    sim.add_argument("--fault-lose-creates", type=count, default=0, help="create the next N jobs but lose the answer")
    sim.add_argument("--fault-latency-ms", type=count, default=0, help="extra latency per API call")
    sim.add_argument("--policy-marker", default="__policy__", help="prompts containing this fail moderation")
    sim.add_argument("--max-running-jobs", type=number(int, within=(1, 10**6)), default=4,
                     help="running jobs before 429 'Too many running tasks'")
    sim.add_argument("--dialect", choices=("openai", "cometapi"), default="openai",
                     help="answer errors as OpenAI documents them or as CometAPI really sends them")
    sim.add_argument("--progress", default="linear", type=_progress_profile,
                     help="how jobs report progress (a create may pick its own with the X-Sim-Progress header)")
    _storyboard_arguments(add("storyboard", help="make a film from a storyboard file; `storyboard status FILE`"))
    return p


# ---------------------------------------------------------------------------------------------- helpers
def _progress_profile(name: str) -> str:
    """A simulator progress profile name, checked where the simulator defines them (imported only when given)."""
    from .shared.simulator.progress import check_profile

    try:
        return check_profile(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def chosen_provider(args: argparse.Namespace) -> Provider:
    """The table of the provider ``open_client`` will use, with the config file's switches: read without a key,
    so a request it cannot serve is refused before the user is asked for one."""
    return provider_table("local" if args.simulate else args.provider)


def local_record() -> JobRecord:
    """The record of paid jobs and made characters: this machine's, or the team's database (no service call)."""
    return open_record()


@contextlib.asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[AsyncSoraClient]:
    """A client for the chosen provider, or for an in-process simulator with ``--simulate``."""
    if args.simulate:
        from .shared.simulator.server import simulate_mode

        # Jobs are kept in the data folder and recorded under one stable base URL, so `generate --no-wait`
        # in one run and `download ID` in the next find the same job.
        with simulate_mode() as sim:
            config = resolve_config("local", sim.base_url)
            async with AsyncSoraClient(config, transport=sim.transport()) as client:
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
        TextColumn("{task.description}", markup=False),  # the description holds the service's id and status
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=100)

        def update(ev: ProgressEvent) -> None:
            done = 100 * ev.bytes_done / ev.bytes_total if ev.phase == "downloading" and ev.bytes_total else ev.progress
            bar.update(task, description=visible(f"{ev.video_id}: {ev.text}", one_line=True), completed=done)

        yield update


def _video_dict(video: Video, **extra: Any) -> dict[str, Any]:
    return {**video.model_dump(mode="json"), **extra}


def _emit(args: argparse.Namespace, data: dict[str, Any], human: str) -> None:
    """A command's result: ``data`` as one JSON object with --json, else the human line."""
    if args.json:
        write_json(data)
    else:
        say(out, human)


def _output_path(args: argparse.Namespace, video_id: str | None) -> Path | None:
    """The file this command will save to, checked with a real write before anything is paid or downloaded.

    ``-o`` names a file, or a folder (an existing one, or a path ending in a separator) that receives
    ``<video_id>.<ext>``; without ``-o`` the folder is the current one. Before a create the id is not known yet, so
    (``video_id=None``) only the folder can be checked, and the caller checks again with the id once the job
    exists. None with ``--no-wait``: nothing will be saved.
    """
    if getattr(args, "no_wait", False):
        return None
    raw = args.output or ""
    target = Path(raw).expanduser() if raw else Path.cwd()
    if raw and not target.is_dir() and not raw.endswith(("/", os.sep)):
        return check_output(target, overwrite=args.overwrite)
    if video_id is None:  # the file's name is not known yet: check that the folder can take a new file
        check_folder(target)
        return None
    return check_output(target / f"{video_id}{VARIANT_SUFFIX[getattr(args, 'variant', 'video')]}",
                        overwrite=args.overwrite)


def _output_after_create(args: argparse.Namespace, video: Video) -> Path | None:
    """The final output path once a paid job has its id; a failure now names how to collect the job later."""
    _State.video_id, _State.collect = video.id, True
    try:
        return _output_path(args, video.id)
    except InvalidInputError as exc:
        raise DownloadError(
            f"{exc} {video.id} was created and is kept in the local record: "
            f"collect it with `sora2 download {video.id} -o PATH`."
        ) from None


async def _follow(client: AsyncSoraClient, args: argparse.Namespace, video: Video, cost: float | None,
                  dest: Path | None, **extra: Any) -> int:
    """Wait for a job and download it to ``dest``; the shared tail of generate/remix/extend/edit/download
    (``extra``: more keys of the JSON result)."""
    _State.video_id, _State.collect = video.id, True
    if dest is None:
        _emit(args, _video_dict(video, cost_usd=cost, **extra), f"Started {video.id} ({video.status}). "
              f"Collect it with: sora2 download {video.id}")
        return 0
    with progress_bar(not args.json and err.is_terminal) as update:
        video = await client.wait(video.id, on_progress=update, deadline=args.timeout)
        path = await client.download_content(video.id, dest, variant=getattr(args, "variant", "video"),
                                             on_progress=update)
    _emit(args, _video_dict(video, file=str(path), cost_usd=cost, **extra),
          f"Saved {path} ({video.id}, {video.seconds}s {video.size})")
    return 0


# ---------------------------------------------------------------------------------------------- commands
async def cmd_generate(args: argparse.Namespace) -> int:
    validate_character_ids(chosen_provider(args), args.characters)  # before a key is asked for; build_request rechecks
    async with open_client(args) as client:
        image, warnings = None, []
        if args.image:
            fitted = fit_reference(load_image_file(args.image), args.size.strip().lower(), args.fit)
            image, warnings = fitted.image, fitted.warnings
        for warning in warnings:  # on stderr before anything is paid, also with --json
            say(err, f"Warning: {warning}.")
        req = client.build_request(args.prompt, model=args.model, size=args.size, seconds=args.seconds,
                                   input_reference=image, characters=args.characters)
        _output_path(args, None)
        cost = client.estimate(req)
        if not args.json:
            note = " (simulated: free)" if args.simulate else ""
            amount = describe_estimate(client.provider, req.model, req.size, cost)
            cast = f", {count(len(req.characters), 'character')}" if req.characters else ""
            say(err, f"Estimated cost: {amount}{note} - {req.model}, {req.size}, {req.seconds}s{cast} "
                f"on {client.config.provider}")
        video = await client.create_from_request(req)
        if not args.json:
            say(err, f"Created {video.id}")
        return await _follow(client, args, video, cost, _output_after_create(args, video),
                             warnings=warnings, characters=list(req.characters))


async def cmd_status(args: argparse.Namespace) -> int:
    _State.video_id = args.video_id
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
    _State.video_id = validate_video_id(args.video_id)
    dest = _output_path(args, _State.video_id)  # checked before the first request
    async with open_client(args) as client:
        video = await client.retrieve(args.video_id)
        return await _follow(client, args, video, None, dest)


async def cmd_derived(args: argparse.Namespace) -> int:
    """remix / extend / edit: a new job from a finished one, then the same wait and download as generate."""
    _output_path(args, None)
    async with open_client(args) as client:
        if args.command == "extend":
            video, cost = await client.extend(args.video_id, args.prompt, args.seconds), None
        else:
            start = client.remix if args.command == "remix" else client.edit
            video = await start(args.video_id, args.prompt)
            cost = client.cost_of(video)
        return await _follow(client, args, video, cost, _output_after_create(args, video))


# A job table's columns come most important first: when the terminal is narrow the last ones go, never the id.
_ID_COLUMN = "id"
_BORDER = 3  # a column's share of the box: one rule and a space of padding either side
_WRAPPED = 16  # room a long column (file, prompt) is given before it wraps within its cell


def job_table(columns: tuple[str, ...], rows: list[tuple[object, ...]], width: int) -> Table:
    """A table of jobs that shows every id whole, whatever the width: ids are what users copy into
    ``sora2 download`` and ComfyUI's Load Job.

    The id column (first) never wraps while it fits on one line. Columns are dropped from the end until the id
    and the rest fit (a long cell counted at ``_WRAPPED``; it wraps inside its cell). Narrower than one id, only
    the id and the next column remain and the id folds onto several lines, every character kept.
    """
    cells = [[cell(v) for v in row] for row in rows]
    needs = [min(max([len(name), *(r[i].cell_len for r in cells)]), _WRAPPED if i else 10**6)
             for i, name in enumerate(columns)]

    def fits(n: int) -> bool:
        return 1 + _BORDER * n + sum(needs[:n]) <= width

    keep = len(columns)
    while keep > 2 and not fits(keep):
        keep -= 1
    table = Table()
    table.add_column(_ID_COLUMN, no_wrap=fits(keep), min_width=needs[0] if fits(keep) else None, overflow="fold")
    for name in columns[1:keep]:
        table.add_column(name, overflow="fold")
    for row in cells:
        table.add_row(*row[:keep])
    return table


async def cmd_list(args: argparse.Namespace) -> int:
    """With --json: ``{"data": [...]}``, one object like every other answer (jobs newest first)."""
    if args.local:
        rows = local_record().list(args.limit)
        if args.json:
            write_json({"data": [r.as_dict() for r in rows]})
            return 0
        out.print(job_table(
            (_ID_COLUMN, "status", "model", "size", "s", "cost", "provider", "file", "prompt"),
            [(r.id, r.status, r.model, r.size, r.seconds, format_usd(r.cost_usd) if r.cost_usd is not None else "",
              r.provider, r.video_file, (r.prompt or "")[:40]) for r in rows],
            out.width,
        ))
        return 0
    async with open_client(args) as client:
        videos = [v async for v in client.list(limit=min(args.limit, 100), max_items=args.limit)]
    if args.json:
        write_json({"data": [v.model_dump(mode="json") for v in videos]})
        return 0
    out.print(job_table(
        (_ID_COLUMN, "status", "progress", "model", "size", "s", "prompt"),
        [(v.id, v.status, f"{v.progress}%", v.model, v.size, v.seconds, (v.prompt or "")[:50]) for v in videos],
        out.width,
    ))
    return 0


async def cmd_delete(args: argparse.Namespace) -> int:
    _State.video_id = args.video_id
    async with open_client(args) as client:
        result = await client.delete(args.video_id)
    _emit(args, result.model_dump(mode="json"), f"Deleted {result.id}")
    return 0


async def cmd_cost(args: argparse.Namespace) -> int:
    from .shared.models import build_create_request

    provider = provider_table(args.provider or ("local" if args.simulate else None))
    req = build_create_request(provider, "price check", args.model, args.size, args.seconds)
    usd = estimate_cost(provider, req.model, req.size, req.seconds)
    _emit(args, {"provider": provider.name, "model": req.model, "size": req.size, "seconds": req.seconds, "usd": usd,
                 "price_note": price_note(provider, req.model, req.size)},
          f"{describe_estimate(provider, req.model, req.size, usd)} for {req.seconds}s of {req.model} at {req.size} "
          f"on {provider.name}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from .shared.simulator.server import serve

    serve(
        host=args.host,
        port=args.port,
        speed=args.speed,
        data_dir=args.data_dir,
        max_running_jobs=args.max_running_jobs,
        progress=args.progress,
        dialect=args.dialect,
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


# ---------------------------------------------------------------------------------------------- characters
def _character_arguments(sp: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = sp.add_subparsers(dest="character_command", required=True, metavar="ACTION")
    make = actions.add_parser("create", parents=[common], help="make a character from a short video (or reuse the "
                                                                "one made before from the same video and name)")
    make.add_argument("name", help="1 to 80 characters; the name the service gets, e.g. Mochi")
    make.add_argument("video", help="a short video of the figure (an animal, an object, a stylised figure: the "
                                    "service refuses a real person's likeness)")
    show = actions.add_parser("show", parents=[common], help="a character as the service describes it")
    show.add_argument("character_id")
    listing = actions.add_parser("list", parents=[common], help="the characters this machine's record holds "
                                                                "(no network)")
    listing.add_argument("--limit", type=number(int, within=(1, MAX_LIST)), default=20,
                         help=f"at most this many, newest first (1-{MAX_LIST}, default 20)")


def _when(timestamp: float | None) -> str:
    """A Unix time as a UTC date and minute (16 characters: a table cell that does not wrap), or empty."""
    if timestamp is None:
        return ""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


async def cmd_character(args: argparse.Namespace) -> int:
    """``sora2 character create|show|list``. ``list`` reads the local record only (it holds the characters made on
    every provider, so it is never refused); ``create`` and ``show`` are refused on a provider without characters
    before a key is asked for or anything is sent."""
    if args.character_command == "list":
        return _character_list(args)
    require_characters(chosen_provider(args))
    async with open_client(args) as client:
        provider = client.config.provider
        if args.character_command == "create":
            made = await client.create_character(args.name, args.video)
            if made.reused:
                human = (f"Reused character {made.id} ({made.name}) from the local record: it was made on {provider} "
                         "from the same video and name, so nothing was sent.")
            else:
                human = f"Made character {made.id} ({made.name}) on {provider}."
            _emit(args, {**made.summary(), "provider": provider, "video": args.video},
                  f"{human}\nUse it in a clip: sora2 generate PROMPT --character {made.id}")
            return 0
        shown = await client.retrieve_character(args.character_id)
        row = client.record.get_character(shown.id) if client.record and shown.id else None
        line = f"{shown.id}: {shown.name or '(no name)'}"
        if shown.created_at is not None:
            line += f", made {_when(shown.created_at)} UTC"
        if row is not None and row.video_file:
            line += f"\n  made from {row.video_file}"
        _emit(args, {**shown.model_dump(mode="json", exclude={"reused"}), "provider": provider,
                     "video_file": row.video_file if row else None}, line)
        return 0


def _character_list(args: argparse.Namespace) -> int:
    """With --json: ``{"data": [...]}`` like ``list``, newest first."""
    rows = local_record().characters(args.limit)
    if args.json:
        write_json({"data": [r.as_dict() for r in rows]})
        return 0
    if not rows:
        say(out, "No characters in the local record yet. Make one with: sora2 character create NAME VIDEO")
        return 0
    out.print(job_table(
        (_ID_COLUMN, "name", "provider", "made (UTC)", "video"),
        [(r.id, r.name, r.provider, _when(r.created_at), r.video_file) for r in rows],
        out.width,
    ))
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
    from .shared.storyboard import (load_storyboard, plan_storyboard, run_storyboard,
                                    storyboard_status)
    from .shared.storyboard.plan import describe_join
    from .shared.storyboard.status import CharacterState, character_states

    status_only = args.file == "status" and args.status_file is not None
    path = Path(args.status_file if status_only else args.file)
    sb = load_storyboard(path)
    provider = args.provider or ("local" if args.simulate else sb.defaults.provider)

    def plan_for(spec: Provider, base_url: str) -> Any:
        # The table with the config file's switches, so a provider whose characters the user turned on plans them.
        return plan_storyboard(sb, spec, base_url=base_url, base_dir=path.parent, film=args.output)

    def show_plan(plan: Any, cast: dict[str, CharacterState]) -> None:
        if plan.characters:  # ids first and whole, as in every table of ids (see job_table)
            def origin(c: Any) -> str:
                return Path(c.ref).name if c.source == "video" else f"shot {c.ref}" if c.source == "shot" else "id"

            out.print(job_table(
                (_ID_COLUMN, "name", "from", "state", "price"),
                [(cast[c.name].character_id, c.name, origin(c), cast[c.name].state,
                  usd(c.cost_usd) if cast[c.name].state == "to make" else "") for c in plan.characters],
                out.width,
            ))
        named = any(s.characters for s in plan.shots)
        table = Table("#", "shot", "start", "model", "seconds", *(["characters"] if named else []), "join after",
                      "price")
        for n, shot_id in enumerate(plan.order, 1):
            s = plan.shot(shot_id)
            start = s.kind if s.source is None else f"{s.kind} {s.source}"
            if s.image_path:
                start = f"image {Path(s.image_path).name}"
            if not s.in_film:
                start += " (inside its extension)"
            seconds = f"+{s.added_seconds}" if s.added_seconds else str(s.seconds)
            table.add_row(*map(cell, (n, s.id, start, s.model, seconds, *([", ".join(s.characters)] if named else []),
                                      describe_join(s.join_after), usd(s.cost_usd))))
        out.print(table)
        made = sum(1 for state in cast.values() if state.state == "to make")
        characters = f" and {count(made, 'character')} to make" if plan.characters else ""
        say(out, f"Total: {usd(plan.total_usd)} for {len(plan.shots)} shots{characters} on {plan.provider.name}; "
                 f"film of {len(plan.film_shots)} shots: {plan.film}")

    if status_only or args.dry_run:
        # The key is never used here: it only lets the provider's base URL resolve without one. With --simulate
        # the base URL is the one simulate mode records its jobs under, so the keys match a --simulate run.
        from .shared.simulator.server import SIMULATE_BASE_URL

        base_url = SIMULATE_BASE_URL if args.simulate and not args.base_url else args.base_url
        config = resolve_config(provider, base_url, api_key="not-needed-offline")
        plan = plan_for(config.provider_spec, config.base_url)
        record = local_record()
        if args.dry_run and not status_only:
            plan.check_budget(args.max_usd)
            cast = character_states(plan, record)
            if args.json:
                write_json({**plan.as_dict(), "characters": [{**c.as_dict(), **cast[c.name].as_dict()}
                                                             for c in plan.characters], "sent": False})
            else:
                show_plan(plan, cast)
            return 0
        states = storyboard_status(plan, record)
        left = round(sum(s.cost_usd for s in states if s.state != "done"), 4)
        done = sum(1 for s in states if s.state == "done")
        if args.json:
            write_json({"storyboard_id": plan.id, "shots": [s.as_dict() for s in states],
                        "done": done, "left": len(states) - done, "left_usd": left})
            return 0
        out.print(job_table(  # video ids first and whole: they are what Load Job and `sora2 download` take
            (_ID_COLUMN, "shot", "state", "price if made", "file"),
            [(st.video_id, st.id, st.state, usd(st.cost_usd) if st.state != "done" else "", st.file)
             for st in states],
            out.width,
        ))
        say(out, f"{done} of {len(states)} shots done; the rest costs about {usd(left)}.")
        return 0

    args.provider = provider if not args.simulate else args.provider  # the storyboard's own provider, unless chosen
    async with open_client(args) as client:
        plan = plan_for(client.provider, client.config.base_url)
        plan.check_budget(args.max_usd)
        check_output(plan.film, overwrite=True)
        for warning in plan.warnings:  # before anything is paid, also with --json
            say(err, f"Warning: {warning}.")
        if not args.json:
            note = " (simulated: free)" if args.simulate else ""
            say(err, f"Estimated cost: {usd(plan.total_usd)}{note} for {len(plan.shots)} shots on "
                     f"{client.config.provider}")
        shots_dir = plan.film.parent / f"{plan.film.stem}-shots"
        with contextlib.ExitStack() as stack:
            on_event = None
            if not args.json and err.is_terminal:  # one line per shot, and one for the film
                bars = stack.enter_context(Bars(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                                                BarColumn(),
                                                TaskProgressColumn(), TimeElapsedColumn(), console=err))
                lines = {s.id: bars.add_task(f"{s.id}: planned", total=100) for s in plan.shots}
                lines[None] = bars.add_task("film: after the shots", total=100)

                def draw(ev: Any) -> None:
                    bars.update(lines[ev.shot_id], completed=ev.progress,
                                description=visible(f"{ev.shot_id or 'film'}: {ev.message or ev.phase}",
                                                    one_line=True))

                on_event = draw
            result = await run_storyboard(client, plan, out_dir=shots_dir, on_event=on_event)
    reused = sum(1 for s in result.shots if s.reused)
    cast = ""
    if result.characters:
        kept = sum(1 for c in result.characters if c.reused)
        cast = f"; {count(len(result.characters), 'character')}, {kept} reused"
    _emit(args, result.as_dict(), f"Saved {result.film} ({len(result.shots)} shots, {reused} reused{cast}; "
          f"spent {usd(result.spent_usd)}) and the contact sheet {result.contact_sheet}")
    return 0


COMMANDS = {
    "generate": cmd_generate, "status": cmd_status, "download": cmd_download, "remix": cmd_derived,
    "extend": cmd_derived, "edit": cmd_derived, "list": cmd_list, "delete": cmd_delete, "cost": cmd_cost,
    "character": cmd_character, "storyboard": cmd_storyboard,
}


# ---------------------------------------------------------------------------------------------- outcomes
def _hint(exc: BaseException) -> str | None:
    """The error's advice, whether it is a method (``APIError.hint()``) or a plain attribute."""
    hint = getattr(exc, "hint", None)
    if callable(hint):
        hint = hint()
    return str(hint) if hint else None


def error_fields(exc: BaseException) -> dict[str, Any]:
    """The ``error`` object of a --json answer: the service's code or a stable local one, the message, the hint,
    the parameter to change and the job it concerns (so a script can collect a job that was paid for)."""
    local = exc.kind if isinstance(exc, Sora2Error) else "file_system" if isinstance(exc, OSError) else "internal_error"
    code = getattr(exc, "code", None)
    return {
        "code": str(code) if code and isinstance(exc, (APIError, JobFailedError)) else local,
        "message": str(exc) or type(exc).__name__,
        "hint": _hint(exc),
        "param": getattr(exc, "param", None),
        "video_id": getattr(exc, "video_id", None) or _State.video_id,
    }


def _fail(as_json: bool, fields: dict[str, Any], exit_code: int, human: str | None = None) -> int:
    """Report a failed outcome: one JSON object on stdout with --json, else readable lines on stderr."""
    if as_json:
        write_json({"error": fields})
    elif human is not None:
        say(err, human)
    else:
        say(err, f"error: {fields['message']}", style="red")
        if fields["hint"] and fields["hint"] not in fields["message"]:
            say(err, f"hint: {fields['hint']}")
    return exit_code


def _wants_json(argv: list[str]) -> bool:
    """Whether --json is on the command line (or an abbreviation argparse would accept), known before parsing so
    that even a usage error answers in JSON."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return any(a.startswith("--j") and "--json".startswith(a) for a in options)


def _interrupted() -> dict[str, Any]:
    vid = _State.video_id
    if vid and _State.collect:
        message = (f"Stopped waiting. {vid} keeps rendering on the service and is in the local record; "
                   f"collect it with: sora2 download {vid}")
    else:
        message = "Interrupted."
    return {"code": "interrupted", "message": message, "hint": None, "param": None, "video_id": vid}


def main(argv: list[str] | None = None) -> int:
    install_log_redaction()
    argv = sys.argv[1:] if argv is None else list(argv)
    _State.reset()
    as_json = _wants_json(argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        fields = {"code": "usage", "message": exc.message, "hint": f"see `{exc.prog} --help`", "param": None,
                  "video_id": None}
        return _fail(as_json, fields, 2, human=f"{exc.usage}{exc.prog}: error: {exc.message}")
    try:
        if args.command == "simulate":
            return cmd_simulate(args)
        return asyncio.run(COMMANDS[args.command](args))
    except KeyboardInterrupt:
        fields = _interrupted()
        return _fail(args.json, fields, 130, human="\n" + fields["message"])
    except Sora2Error as exc:
        return _fail(args.json, error_fields(exc), exc.exit_code)
    except OSError as exc:  # the disk filled up or a folder vanished between the check and the write
        return _fail(args.json, error_fields(exc), 1)
    except Exception as exc:
        if not args.json:
            raise
        traceback.print_exc()  # a bug: the details go to stderr, the answer stays one JSON object
        return _fail(True, error_fields(exc), 1)


if __name__ == "__main__":
    sys.exit(main())
