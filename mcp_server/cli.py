"""``sora2-mcp``: the MCP server on stdio (what desktop clients launch) or streamable HTTP, optionally simulated.

Everything goes to stderr except the protocol itself (stdout is the wire on stdio). Flags override the
``SORA2_MCP_*`` environment variables; the provider, base URL and key come from the shared configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from .. import __version__
from ..shared.providers import PROVIDERS
from .settings import Settings

if TYPE_CHECKING:
    from ..shared.simulator.server import SimulatedService


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sora2-mcp",
        description="MCP server for Sora 2 video generation (stdio by default).",
    )
    p.add_argument("--version", action="version", version=f"sora2-bridge {__version__}")
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio",
                   help="stdio (default; what desktop clients launch) or http (streamable HTTP)")
    p.add_argument("--host", default="127.0.0.1",
                   help="HTTP bind address (default 127.0.0.1; beyond loopback a token is required, see --auth)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    p.add_argument("--path", default="/mcp", help="HTTP endpoint path (default /mcp)")
    p.add_argument("--auth", choices=("auto", "tokens", "none"),
                   help="HTTP authentication: auto (default: bearer tokens when the tokens file exists), tokens, none "
                        "($SORA2_MCP_AUTH); manage tokens with: sora2-mcp token add|revoke|list")
    p.add_argument("--insecure", action="store_true",
                   help="allow serving beyond loopback without authentication (anyone reaching it spends your budget)")
    p.add_argument("--allowed-host", action="append", dest="allowed_hosts", default=[], metavar="HOST",
                   help="a Host header to accept besides the bound host and localhost (repeatable; "
                        "$SORA2_MCP_ALLOWED_HOSTS, comma-separated)")
    p.add_argument("--stateful", action="store_true",
                   help="over http: keep MCP sessions in memory (default: stateless, so several instances can sit "
                        "behind a round-robin proxy)")
    p.add_argument("--public-url", help="over http: the URL agents reach the MCP endpoint at, behind a proxy "
                                        "($SORA2_MCP_PUBLIC_URL; default: from --host/--port/--path)")
    p.add_argument("--url-ttl-seconds", type=float,
                   help="lifetime of the signed file URLs given over http ($SORA2_MCP_URL_TTL_SECONDS; default 3600)")
    p.add_argument("--simulate", action="store_true",
                   help="run against an in-process local simulator (no key, no network, free)")
    p.add_argument("--simulate-port", type=int, default=0, help="port of the simulator (default: any free port)")
    p.add_argument("--provider", choices=sorted(PROVIDERS), help="service (default: $SORA2_PROVIDER or cometapi)")
    p.add_argument("--base-url", help="base URL of a compatible service (default: $SORA2_BASE_URL)")
    p.add_argument("--output-dir", help="where clips are saved (default: $SORA2_MCP_OUTPUT_DIR)")
    p.add_argument("--input-dir", action="append", dest="input_dirs", metavar="DIR",
                   help="a folder local images and character videos may be read from (repeatable; default: "
                        "$SORA2_MCP_INPUT_DIRS)")
    p.add_argument("--max-usd-per-call", type=float, help="per-call limit in USD ($SORA2_MCP_MAX_USD_PER_CALL)")
    p.add_argument("--budget-usd", type=float, help="budget in USD per period ($SORA2_MCP_BUDGET_USD)")
    p.add_argument("--budget-period", choices=("day", "lifetime"), help="day or lifetime ($SORA2_MCP_BUDGET_PERIOD)")
    p.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="log level on stderr (default WARNING)")
    return p


@contextlib.contextmanager
def _simulator(enabled: bool, port: int) -> Iterator[SimulatedService | None]:
    """The ``--simulate`` simulator: jobs kept in the data folder, so a restarted server still finds them."""
    if not enabled:
        yield None
        return
    from ..shared.simulator.server import simulate_mode

    with simulate_mode(port=port) as sim:
        logging.getLogger("sora2_bridge.mcp").warning(
            "simulating: local simulator at %s (jobs kept in %s)", sim.server.base_url, sim.server.config.data_dir)
        yield sim


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["token"]:
        from .tokens import token_command

        return token_command(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from ..shared.errors import Sora2Error
    from ..shared.redact import install_log_redaction
    from .media_links import bound_url
    from .server import create_server

    install_log_redaction()

    try:
        settings = Settings.from_env(
            output_dir=args.output_dir,
            input_dirs=tuple(args.input_dirs) if args.input_dirs else None,
            max_usd_per_call=args.max_usd_per_call,
            budget_usd=args.budget_usd,
            budget_period=args.budget_period,
            public_url=args.public_url,
            http_path=args.path,
            url_ttl_seconds=args.url_ttl_seconds,
        )
        if args.transport == "http" and settings.public_url is None:
            settings = replace(settings, public_url=bound_url(args.host, args.port, args.path))
    except Sora2Error as exc:
        print(f"sora2-mcp: {exc}", file=sys.stderr)
        return 2
    http = None
    if args.transport == "http":
        from .auth import plan_http

        try:
            http = plan_http(args.host, args.port, args.path, auth_mode=args.auth, insecure=args.insecure,
                             extra_hosts=args.allowed_hosts, public_url=args.public_url, stateful=args.stateful)
        except Sora2Error as exc:
            print(f"sora2-mcp: {exc}", file=sys.stderr)
            return 2
        for note in http.notes:
            print(f"sora2-mcp: warning: {note}", file=sys.stderr)
    try:
        with _simulator(args.simulate, args.simulate_port) as sim:
            if sim is not None:
                server = create_server(settings, provider="local", base_url=sim.base_url,
                                       service_transport=sim.transport(), http=http)
            else:
                server = create_server(settings, provider=args.provider, base_url=args.base_url, http=http)
            if http is not None:
                server.run("streamable-http", port=args.port, **http.app_kwargs())
            else:
                server.run("stdio")
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
