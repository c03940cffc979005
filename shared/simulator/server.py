"""Running the simulator: in-process on a free loopback port (tests, embedded use) or blocking (``sora2 simulate``).

Tests and the official SDK need a real socket, not only an ASGI transport: connection drops, Content-Length and
streaming behave differently over TCP. ``SimulatorServer`` runs uvicorn in a daemon thread on a port the OS picks,
so parallel test sessions never collide, and hands the live state to the test for in-process fault changes.

``simulate_mode`` is the simulator behind ``--simulate`` (the CLI and the MCP server): its jobs and clips live in
the data folder, so a job started by one process can be polled and downloaded by the next, and clients address
it by one stable base URL whatever port this run listens on (see ``SIMULATE_BASE_URL``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from ..config import data_dir
from ..errors import ConfigurationError
from ..providers import LOCAL
from .app import ConnectionAborted, create_app
from .faults import FaultConfig
from .progress import DEFAULT_PROFILE
from .store import SimulatorConfig, SimulatorState

STARTUP_TIMEOUT = 10.0

# The identity of the ``--simulate`` simulator in the job record, the request keys (never pay twice), the MCP
# spending ledger and the ComfyUI cache. The port changes on every run, so it cannot be part of the identity; a
# reserved ``.invalid`` name (RFC 2606) can never resolve, so a request that somehow bypassed the transport below
# fails instead of reaching a host on the network.
SIMULATE_BASE_URL = "http://local-simulator.invalid/v1"
# Where ``--simulate`` keeps its jobs (simulator.json) and rendered clips (media/), inside the data folder.
SIMULATE_FOLDER = "simulator"


class _QuietAborts(logging.Filter):
    """Injected connection drops are the simulator working as asked: keep their tracebacks out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionAborted))


def _uvicorn_server(app: object, **config: Any) -> uvicorn.Server:
    config.setdefault("access_log", False)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", **config))  # type: ignore[arg-type]
    logger = logging.getLogger("uvicorn.error")  # configured by uvicorn.Config, so filter after creating it
    if not any(isinstance(f, _QuietAborts) for f in logger.filters):
        logger.addFilter(_QuietAborts())
    return server


class SimulatorServer:
    """A simulator on ``127.0.0.1:<free port>`` in a background thread; use as ``with`` or ``async with``."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.config = config or SimulatorConfig()
        self.app = create_app(self.config)
        self.host = host
        self._requested_port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None  # kept after stop, so URLs stay printable

    @property
    def state(self) -> SimulatorState:
        return self.app.state.sim

    @property
    def faults(self) -> FaultConfig:
        """The live fault config: assign its fields to arm faults for the next calls."""
        return self.state.faults.config

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator has not been started")
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def start(self) -> SimulatorServer:
        # Bind first, so the port is known (and ours) before uvicorn starts serving on the socket. Say IPPROTO_TCP
        # explicitly: asyncio only disables Nagle on sockets whose proto is TCP, and with proto 0 every response
        # (headers and body are two writes) waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind((self.host, self._requested_port))
        sock.listen(128)
        self._socket = sock
        self._port = sock.getsockname()[1]
        self._server = _uvicorn_server(self.app, log_level=self._log_level)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="sora2-simulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STARTUP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SimulatorServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    speed: float = 1.0,
    data_dir: str | Path | None = None,
    faults: FaultConfig | dict[str, Any] | None = None,
    *,
    instant: bool = False,
    ttl: float = 3600.0,
    max_running_jobs: int | None = LOCAL.max_concurrent_jobs,
    poll_after_ms: int | None = None,
    progress: str = DEFAULT_PROFILE,
    dialect: str = "openai",
    log_level: str = "info",
) -> None:
    """Serve the simulator until interrupted (Ctrl-C). The API is at ``http://HOST:PORT/v1``, any bearer key."""
    fault_config = faults if isinstance(faults, FaultConfig) else FaultConfig.model_validate(faults or {})
    config = SimulatorConfig(
        speed=speed,
        instant=instant,
        ttl=ttl,
        max_running_jobs=max_running_jobs,
        poll_after_ms=poll_after_ms,
        progress=progress,
        dialect=dialect,
        data_dir=Path(data_dir).expanduser() if data_dir else None,
        faults=fault_config,
        prerender=True,
    )
    _uvicorn_server(create_app(config), host=host, port=port, log_level=log_level, access_log=True).run()


class _ToSimulator(httpx.AsyncBaseTransport):
    """Delivers requests addressed to ``SIMULATE_BASE_URL`` to the port this run's simulator listens on."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host=self._host, port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class SimulatedService:
    """What a front end needs to talk to the ``--simulate`` simulator: the stable base URL and a transport."""

    server: SimulatorServer
    base_url: str = SIMULATE_BASE_URL

    def transport(self) -> httpx.AsyncBaseTransport:
        """A new transport for one client (each client closes its own)."""
        return _ToSimulator(self.server.host, self.server.port)


def simulate_folder(data: Path | None = None) -> Path:
    return (data or data_dir()) / SIMULATE_FOLDER


@contextlib.contextmanager
def simulate_mode(folder: Path | None = None, *, port: int = 0) -> Iterator[SimulatedService]:
    """Run the ``--simulate`` simulator for the length of the block, its state kept in ``folder``.

    ``folder`` defaults to ``<data folder>/simulator``; jobs made by an earlier run are still there (their
    clocks kept running meanwhile, so a job started before a restart has finished rendering after it).
    """
    data = folder or simulate_folder()
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot keep the simulator's jobs in {data} ({exc.strerror or exc}). "
            "Set SORA2_DATA_DIR to a folder you can write."
        ) from None
    with SimulatorServer(SimulatorConfig(prerender=True, data_dir=data), port=port) as server:
        yield SimulatedService(server)
