"""Shared fixtures: an isolated user environment, and the local simulator over TCP or in-process (ASGI).

Every test gets a fresh simulator (a uvicorn server starts in milliseconds), while rendered clips are cached in
one session-wide folder: encoding is the expensive part, and the cache is content-addressed, so a clip with the
same prompt/size/seconds/reference is encoded once per test session.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from sora2_bridge.shared.simulator import SimulatorConfig, SimulatorServer, create_app

USER_ENV = ("SORA2_API_KEY", "COMETAPI_KEY", "OPENAI_API_KEY", "SORA2_PROVIDER", "SORA2_BASE_URL")
AUTH = {"Authorization": "Bearer test-key"}


@pytest.fixture(autouse=True)
def isolated_user_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's real config, data folder or keys."""
    monkeypatch.setenv("SORA2_DATA_DIR", str(tmp_path / "sora2-data"))
    monkeypatch.setenv("SORA2_CONFIG", str(tmp_path / "sora2-config.toml"))
    for name in USER_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """Cassettes (recorded exchanges in the service's wire format) live in one folder shared by every front end."""
    return str(Path(__file__).parent / "cassettes")


@pytest.fixture(scope="module")
def vcr_config() -> dict:
    """Scrub the key when re-recording against a live provider (--record-mode=rewrite with SORA2_API_KEY set)."""
    return {"filter_headers": [("authorization", "Bearer REDACTED")]}


@pytest.fixture(scope="session")
def sim_media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim-media")


@pytest.fixture
def sim_config(sim_media_dir: Path) -> SimulatorConfig:
    """Instant renders, session-wide media cache. Fields may be changed in a test: the simulator reads them live."""
    return SimulatorConfig(instant=True, media_dir=sim_media_dir)


@pytest.fixture
def sim_app(sim_config: SimulatorConfig) -> Starlette:
    """The simulator as an ASGI app, for ``httpx.ASGITransport``; its state is ``sim_app.state.sim``."""
    return create_app(sim_config)


@pytest.fixture
def sim(sim_config: SimulatorConfig) -> Iterator[SimulatorServer]:
    """A running loopback simulator with fresh state: ``sim.base_url``, ``sim.faults``, ``sim.state``."""
    with SimulatorServer(sim_config) as server:
        yield server


@pytest.fixture
def sim_client(sim: SimulatorServer) -> Iterator[httpx.Client]:
    """An httpx client on ``sim.base_url`` with a bearer key."""
    with httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=60) as client:
        yield client


@pytest.fixture
async def sim_asgi_client(sim_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An async httpx client talking to ``sim_app`` in-process (no socket)."""
    transport = httpx.ASGITransport(app=sim_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://simulator/v1", headers=AUTH) as client:
        yield client


@pytest.fixture(scope="session")
def make_png() -> Callable[[str, tuple[int, int, int]], bytes]:
    """A solid-colour PNG of WIDTHxHEIGHT, byte-identical for the same arguments (so renders stay cached)."""

    def make(size: str, colour: tuple[int, int, int] = (200, 40, 90)) -> bytes:
        w, h = (int(v) for v in size.split("x"))
        buf = io.BytesIO()
        Image.new("RGB", (w, h), colour).save(buf, format="PNG")
        return buf.getvalue()

    return make
