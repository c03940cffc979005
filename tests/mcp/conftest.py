"""Fixtures of the MCP server tests: settings in a temporary folder, and servers on the simulator or a cassette.

Clients are opened inside each test (``async with Client(server)``) rather than in fixtures: the SDK's client holds
anyio task groups, which must be entered and left in the same task.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.server import MCPServer

from sora2_bridge.mcp_server.server import create_server
from sora2_bridge.mcp_server.settings import Settings
from sora2_bridge.shared import AsyncSoraClient, ClientConfig, JobRecord, RetryPolicy, resolve_config
from sora2_bridge.shared.config import data_dir
from sora2_bridge.shared.simulator import SimulatorServer

@pytest.fixture
def input_dir(tmp_path: Path) -> Path:
    path = tmp_path / "inputs"
    path.mkdir()
    return path


@pytest.fixture
def settings(tmp_path: Path, input_dir: Path) -> Settings:
    """Generous limits, the background collector off (tests drive it), folders under tmp_path."""
    return Settings(
        output_dir=tmp_path / "out",
        input_dirs=(input_dir,),
        max_usd_per_call=5.0,
        budget_usd=50.0,
        auto_download=False,
        state_dir=data_dir(),
    )


MakeServer = Callable[..., MCPServer]
# Retries are the shared client's business (tested there); here they only need to end quickly.
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_total_wait=1.0)


def fast_retries(config: ClientConfig, record: JobRecord, settings: Settings) -> AsyncSoraClient:
    return AsyncSoraClient(config, record=record, downloads_dir=settings.output_dir, retry=FAST_RETRY)


@pytest.fixture
def make_server(sim: SimulatorServer, settings: Settings) -> MakeServer:
    """``make_server(**settings_changes, server_kwargs...)``: a server on the loopback simulator."""

    def make(settings_obj: Settings | None = None, **kwargs: Any) -> MCPServer:
        config = kwargs.pop("config", None) or resolve_config("local", sim.base_url)
        kwargs.setdefault("client_factory", fast_retries)
        return create_server(settings_obj or settings, config=config, **kwargs)

    return make


@pytest.fixture
def server(make_server: MakeServer) -> MCPServer:
    return make_server()


# ---------------------------------------------------------------------------------------------- PostgreSQL
POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # the Debian packages' layout


def _postgres_bin() -> Path | None:
    """The folder with initdb and pg_ctl: $SORA2_TEST_PG_BIN if set (only it), else a Debian package's, else PATH's."""
    if os.environ.get("SORA2_TEST_PG_BIN"):
        candidates = [Path(os.environ["SORA2_TEST_PG_BIN"])]
    else:
        on_path = shutil.which("initdb")
        candidates = [*POSTGRES_BIN_DIRS, *([Path(on_path).parent] if on_path else [])]
    return next((d for d in candidates if (d / "initdb").exists() and (d / "pg_ctl").exists()), None)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for this test session; yields the URL of its maintenance database.

    It runs as the ``postgres`` system user when the tests run as root (PostgreSQL refuses root), keeps its data
    and its unix socket in a temporary folder (no TCP port to collide on), skips fsync, and is stopped at the end.
    Without PostgreSQL binaries the tests that need it are skipped, except under CI (``CI`` set), where that is an
    error: a CI run must never pass by silently testing one backend.
    """
    bin_dir = _postgres_bin()
    if bin_dir is None:
        message = ("PostgreSQL binaries (initdb, pg_ctl) not found: install the postgresql package "
                   "or set SORA2_TEST_PG_BIN to their folder")
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this fails rather than skips)")
        pytest.skip(message)
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="sora2-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
    data = root / "data"

    def run(*args: object) -> None:
        subprocess.run([*as_user, *map(str, args)], check=True, cwd=root, capture_output=True, timeout=120)

    started = False
    try:
        run(bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses='' -c unix_socket_directories='{root}' -c fsync=off -c port=5432"
        run(bin_dir / "pg_ctl", "-D", data, "-l", root / "server.log", "-o", options, "-w", "start")
        started = True
        yield f"postgresql+psycopg://postgres@/postgres?host={root}&port=5432"
    finally:
        if started:
            run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
