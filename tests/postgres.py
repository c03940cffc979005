"""A throwaway PostgreSQL cluster from the machine's own binaries, for the tests and the team benchmark.

It runs as the ``postgres`` system user when started as root (PostgreSQL refuses root), keeps its data and its unix
socket in a temporary folder (no TCP port to collide on), skips fsync, and is stopped and removed at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # the Debian packages' layout
MISSING = ("PostgreSQL binaries (initdb, pg_ctl) not found: install the postgresql package "
           "or set SORA2_TEST_PG_BIN to their folder")


def postgres_bin() -> Path | None:
    """The folder with initdb and pg_ctl: $SORA2_TEST_PG_BIN if set (only it), else a Debian package's, else PATH's."""
    if os.environ.get("SORA2_TEST_PG_BIN"):
        candidates = [Path(os.environ["SORA2_TEST_PG_BIN"])]
    else:
        on_path = shutil.which("initdb")
        candidates = [*POSTGRES_BIN_DIRS, *([Path(on_path).parent] if on_path else [])]
    return next((d for d in candidates if (d / "initdb").exists() and (d / "pg_ctl").exists()), None)


@contextmanager
def temporary_cluster(bin_dir: Path, *, max_connections: int = 100) -> Iterator[str]:
    """Start a cluster; yield the SQLAlchemy URL of its maintenance database."""
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
        options = (f"-c listen_addresses='' -c unix_socket_directories='{root}' -c fsync=off -c port=5432"
                   f" -c max_connections={max_connections}")
        run(bin_dir / "pg_ctl", "-D", data, "-l", root / "server.log", "-o", options, "-w", "start")
        started = True
        yield f"postgresql+psycopg://postgres@/postgres?host={root}&port=5432"
    finally:
        if started:
            run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on ``server_url``'s cluster; yields its URL and drops it afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
