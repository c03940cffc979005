"""The MCP server: an ``MCPServer`` whose lifespan holds one shared client, the job record and the spending guard.

``create_server()`` reads the configuration once; a missing key does not stop the server from starting (a desktop
client would only show "server disconnected"): every paid tool then answers with the message that says which
variable to set, and ``estimate_cost`` keeps working.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable

import httpx
from mcp.server import MCPServer

from .. import __version__
from ..shared.client import AsyncSoraClient
from ..shared.config import ClientConfig, resolve_config
from ..shared.errors import ConfigurationError
from ..shared.providers import DEFAULT_PROVIDER, Provider, get_provider
from ..shared.record import RECORD_FILE, JobRecord  # the CLI and ComfyUI see these jobs too
from ..shared.store import database_url
from .auth import HttpPlan
from .guard import Ledger, Resolver, SpendingGuard
from .jobs import Jobs
from .media_links import MediaLinks
from .resources import register_resources
from .sequences import Sequences, register_sequence_prompt
from .settings import Settings
from .state import AppState
from .tools import build_tools

log = logging.getLogger("sora2_bridge.mcp")

ClientFactory = Callable[[ClientConfig, JobRecord, Settings], AsyncSoraClient]
LEDGER_FILE = "mcp-spend.sqlite3"

INSTRUCTIONS = """Sora 2 video generation. Clips cost money and take minutes.
Workflow: generate_video (returns a video_id at once) -> get_status(video_id) every next_check_seconds until
completed -> the background collector saves the MP4 of jobs this server started (or call download_video); get_status
never saves anything and says file_path once saved, else target_path. get_frame shows a frame of a saved clip;
join_videos joins clips. Use estimate_cost before expensive clips; respect refusals from the spending guard (tell
the user the estimate and the remaining budget). remix_video, edit_video and extend_video start new paid jobs from
a completed clip. The same figure in several clips: create_character once, then generate_video(characters=[id]).
The service has no cancel: forget_video only stops the collector. Never call generate_video again
just because a clip is still rendering: poll get_status instead. Full prices: resource sora2://prices."""


def _guess_provider(provider: str | None) -> Provider:
    try:
        return get_provider(provider or os.environ.get("SORA2_PROVIDER") or DEFAULT_PROVIDER)
    except ConfigurationError:
        return get_provider(DEFAULT_PROVIDER)


def _default_client(
    config: ClientConfig, record: JobRecord, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncSoraClient:
    return AsyncSoraClient(config, record=record, downloads_dir=settings.output_dir, transport=transport)


def create_server(
    settings: Settings | None = None,
    *,
    config: ClientConfig | None = None,
    provider: str | None = None,
    base_url: str | None = None,
    client_factory: ClientFactory | None = None,
    url_resolver: Resolver | None = None,
    url_transport: httpx.AsyncBaseTransport | None = None,
    service_transport: httpx.AsyncBaseTransport | None = None,
    http: HttpPlan | None = None,
) -> MCPServer[AppState]:
    """Build the server. ``config`` wins over ``provider``/``base_url``, which win over the environment.

    ``service_transport`` carries the default client's requests (``--simulate`` delivers its stable base URL
    to the simulator's port this way). ``http`` adds its authentication (bearer tokens, callers) when it has one.
    """
    settings = settings or Settings.from_env()
    config_error: str | None = None
    if config is None:
        try:
            config = resolve_config(provider, base_url)
        except ConfigurationError as exc:
            config_error = str(exc)
    spec = config.provider_spec if config is not None else _guess_provider(provider)
    factory = client_factory or functools.partial(_default_client, transport=service_transport)
    media = MediaLinks(settings)

    @contextlib.asynccontextmanager
    async def lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        ledger = Ledger(database_url(settings.state_dir / LEDGER_FILE))
        record = JobRecord(database_url(settings.state_dir / RECORD_FILE))
        guard = SpendingGuard(
            settings, ledger, provider=spec.name, base_url=config.base_url if config is not None else ""
        )
        client = factory(config, record, settings) if config is not None else None
        jobs = (
            Jobs(client, record, settings, guard, url_resolver=url_resolver, url_transport=url_transport)
            if client is not None else None
        )
        if config_error:
            log.warning("not configured: %s", config_error)
        else:
            log.info("sora2-mcp on %s (%s); output folder %s", spec.name, config.base_url, settings.output_dir)  # type: ignore[union-attr]
        collector = None
        if jobs is not None and settings.auto_download:
            collector = asyncio.create_task(jobs.collect_forever(), name="sora2-collector")
        state = AppState(settings, spec, guard, jobs, config_error, Sequences(jobs) if jobs is not None else None,
                         media)
        media.state = state
        try:
            yield state
        finally:
            media.state = None
            if state.sequences is not None:
                await state.sequences.aclose()
            if collector is not None:
                collector.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await collector
            if client is not None:
                await client.aclose()
            record.close()
            ledger.close()

    mcp: MCPServer[AppState] = MCPServer(
        "sora2-bridge",
        title="Sora 2 Bridge",
        description="Generate, follow and download Sora 2 video clips, with a spending guard.",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level="WARNING",
        tools=build_tools(spec, settings),
        **(http.server_kwargs() if http is not None else {}),
    )
    register_resources(mcp, spec, settings)
    media.install(mcp)
    register_sequence_prompt(mcp, spec, settings)
    return mcp

