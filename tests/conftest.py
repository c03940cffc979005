"""Shared fixtures: an isolated user environment, and the local simulator over TCP or in-process (ASGI).

Every test gets a fresh simulator (a uvicorn server starts in milliseconds), while rendered clips are cached in
one session-wide folder: encoding is the expensive part, and the cache is content-addressed, so a clip with the
same prompt/size/seconds/reference is encoded once per test session.
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import settings
from PIL import Image
from starlette.applications import Starlette

from sora2_bridge.shared.simulator import SimulatorConfig, SimulatorServer, create_app

from .postgres import MISSING, fresh_database, postgres_bin, temporary_cluster

# CI runs the same examples every time (HYPOTHESIS_PROFILE=ci in .ci/run): a red build is then a reproducible one,
# never a draw. Locally each run draws new examples, which is how new failures are found.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

USER_ENV = ("SORA2_API_KEY", "COMETAPI_KEY", "OPENAI_API_KEY", "SORA2_PROVIDER", "SORA2_BASE_URL", "SORA2_DATABASE_URL")
AUTH = {"Authorization": "Bearer test-key"}


@pytest.fixture(autouse=True)
def isolated_user_state(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the developer's real config, data folder, keys or working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SORA2_DATA_DIR", str(tmp_path / "sora2-data"))
    # An empty user config outside the test's folder (a SORA2_CONFIG naming a missing file is an error).
    config = tmp_path_factory.mktemp("sora2-config") / "config.toml"
    config.touch()
    monkeypatch.setenv("SORA2_CONFIG", str(config))
    # No tokens file (a developer's real one would switch on auth for the MCP server's HTTP tests).
    monkeypatch.setenv("SORA2_MCP_TOKENS_FILE", str(config.parent / "mcp-tokens.json"))
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
def dialect() -> str:
    """Whose error shapes the simulator answers in; the fault suites run in "openai" and "cometapi" (see below)."""
    return "openai"


@pytest.fixture
def sim_config(sim_media_dir: Path, dialect: str) -> SimulatorConfig:
    """Instant renders, session-wide media cache. Fields may be changed in a test: the simulator reads them live."""
    return SimulatorConfig(instant=True, media_dir=sim_media_dir, dialect=dialect)


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


@pytest.fixture(scope="session")
def character_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short, real MP4 (64x64, 10 frames) to make characters from: what a user's clip of a figure stands for."""
    import av
    import numpy as np

    path = tmp_path_factory.mktemp("character") / "mochi.mp4"
    with av.open(str(path), "w") as box:
        stream = box.add_stream("libx264", rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(10):
            box.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), 20 * i, np.uint8), format="rgb24")))
        box.mux(stream.encode(None))
    return path


# ---------------------------------------------------------------------------------------------- fault catalog
# Shared by the CLI, ComfyUI and MCP fault suites (tests/faults/, tests/nodes/, tests/mcp/): every test that takes
# a ``fault`` argument runs once per entry. docs/reliability.md holds the same table. Faults are set on the
# simulator at the moment that matters: just before the job is created (``at="create"``), after it finished and
# before its download (``at="download"``), or, for expiry, by moving the simulator's clock past ``expires_at``.


@dataclass(frozen=True)
class Fault:
    name: str
    settings: dict[str, Any]
    # None: the clip must arrive intact. Otherwise words the user's error message must contain.
    error_words: tuple[str, ...] | None = None
    at: str = "create"
    prompt_suffix: str = ""
    # Words that only the OpenAI dialect carries (CometAPI's moderation failures have no code).
    openai_words: tuple[str, ...] = ()
    # Also run against the simulator's CometAPI dialect in the slower node and MCP suites (the CLI suite runs
    # every fault in both): the faults whose answers differ between the dialects.
    dialect_sensitive: bool = False

    def words(self, dialect: str) -> tuple[str, ...] | None:
        if self.error_words is None:
            return None
        return self.error_words + (self.openai_words if dialect == "openai" else ())

    def apply(self, sim, stage: str) -> None:
        if stage == self.at:
            for key, value in self.settings.items():
                setattr(sim.faults, key, value)
            if self.at == "expired":
                sim.state.advance_clock(sim.state.config.ttl + 60)


FAULTS: tuple[Fault, ...] = (
    Fault("429 storm with Retry-After", {"rate_limit_next": 4, "retry_after_seconds": 0.2}, dialect_sensitive=True),
    Fault("500 then recovery", {"server_error_next": 2, "server_error_status": 500}, dialect_sensitive=True),
    Fault("502 bad gateway", {"server_error_next": 2, "server_error_status": 502}),
    Fault("503 overloaded", {"server_error_next": 2, "server_error_status": 503}, dialect_sensitive=True),
    Fault("connection dropped mid-download", {"drop_download_next": 1}, at="download"),
    Fault("truncated body", {"truncate_download_next": 1}, at="download"),
    Fault("malformed JSON", {"malformed_json_next": 1}, at="download"),
    Fault("create response lost", {"lose_create_next": 1}),
    Fault("content-policy failure", {}, error_words=("moderation",), openai_words=("moderation_blocked",),
          prompt_suffix=" __policy__", dialect_sensitive=True),
    Fault("content expired", {}, error_words=("expired",), at="expired", dialect_sensitive=True),
)
# The CLI suite (fast, in-process) runs every fault in both dialects; the node and MCP suites add the CometAPI
# dialect only for the faults whose answers differ, to keep their run time reasonable.
FULL_DIALECT_SUITES = ("test_cli_faults",)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fault" in metafunc.fixturenames:
        full = metafunc.module.__name__.rsplit(".", 1)[-1] in FULL_DIALECT_SUITES
        cases = [(f, "openai") for f in FAULTS] + [
            (f, "cometapi") for f in FAULTS if full or f.dialect_sensitive
        ]
        metafunc.parametrize(("fault", "dialect"), cases, ids=[f"{f.name}-{d}" for f, d in cases])


# ---------------------------------------------------------------------------------------------- PostgreSQL
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for this test session (tests/postgres.py); yields its maintenance URL.

    Without PostgreSQL binaries the tests that need it are skipped, except under CI (``CI`` set), where that is an
    error: a CI run must never pass by silently testing one backend.
    """
    bin_dir = postgres_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING + " (CI is set, so this fails rather than skips)")
        pytest.skip(MISSING)
    with temporary_cluster(bin_dir) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server for one test, dropped afterwards."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def record_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a store test keeps its record: a SQLite file, then a fresh PostgreSQL database (the same tests run on
    both, as every front end may be pointed at either)."""
    if request.param == "sqlite":
        return tmp_path / "jobs.sqlite3"
    return request.getfixturevalue("postgres_url")
