"""Serving over HTTP safely: who may connect (bearer tokens), from where (Host/Origin), and what each caller sees.

Authentication is the SDK's resource-server support: ``MCPServer(auth=AuthSettings(...), token_verifier=...)``
puts its bearer middleware in front of the MCP endpoint (no or bad token: HTTP 401 with ``WWW-Authenticate:
Bearer ... resource_metadata="<url>"``) and serves the RFC 9728 protected-resource metadata at
``/.well-known/oauth-protected-resource<path>``, which names the authorization server. Today the verifier is the
static tokens file (tokens.py); an OAuth authorization server is plugged in later by pointing
``SORA2_MCP_AUTH_ISSUER_URL`` at it and giving ``create_server`` a verifier for its tokens (JWT or introspection)
whose ``AccessToken.client_id`` names the caller.

Every HTTP server checks Host and Origin (DNS-rebinding protection), whatever address it binds to; binding beyond
loopback without authentication is refused unless ``--insecure`` says so.

:class:`CallerMiddleware` runs every request as its token's caller (callers.py), so spending is charged to it, and
makes other callers' jobs look like jobs that do not exist: a video id the caller did not create is answered with
one "no such video" sentence, the same one as for an id nobody created, and ``list_videos`` shows only its jobs.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, TextContent

from ..shared.errors import ConfigurationError
from .callers import Caller, acting_as
from .tokens import ENV_TOKENS_FILE, TokenFileVerifier, TokenStore, caller_of_access_token, tokens_file_path

AuthMode = Literal["auto", "tokens", "none"]
ENV_AUTH = "SORA2_MCP_AUTH"
ENV_ALLOWED_HOSTS = "SORA2_MCP_ALLOWED_HOSTS"
ENV_PUBLIC_URL = "SORA2_MCP_PUBLIC_URL"
ENV_ISSUER_URL = "SORA2_MCP_AUTH_ISSUER_URL"
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "")
VIDEO_URI = "sora2://videos/"


class BindRefused(ConfigurationError):
    """The HTTP server would be reachable beyond this machine with nobody checking who calls."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, authenticated: bool, insecure: bool) -> str | None:
    """Why serving on ``host`` is refused, or None. Loopback is always allowed; beyond it a token is required
    unless the user explicitly accepts an open server with ``--insecure``."""
    if authenticated or insecure or is_loopback(host):
        return None
    return (f"refusing to serve on {host} without authentication: anyone who can reach it could spend your "
            f"budget. Add a token (sora2-mcp token add NAME) so clients must send it, or pass --insecure to serve "
            "without one anyway.")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def allowed_hosts(host: str, extra: Sequence[str] = (), public_url: str | None = None) -> list[str]:
    """Host header values to accept: the bound host (or, on a wildcard address, this machine's name), the
    loopback names, the public URL's host and ``extra``; a name without a port accepts any port."""
    names: list[str] = []
    if host in WILDCARDS:
        names.append(socket.gethostname())
    else:
        names.append(_url_host(host))
    names.extend(LOCAL_NAMES)
    if public_url:
        names.append(urlsplit(public_url).netloc)
    names.extend(e.strip() for e in extra if e.strip())
    out: list[str] = []
    for name in names:
        forms = [name] if _has_port(name) else [name, f"{name}:*"]
        out.extend(f for f in forms if f not in out)
    return out


def _has_port(name: str) -> bool:
    return name.rsplit("]", 1)[-1].count(":") == 1 if name.startswith("[") else name.count(":") == 1


def transport_security(hosts: list[str]) -> TransportSecuritySettings:
    """Host and Origin checks on: browsers may only call from pages served by an allowed host."""
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


@dataclass
class HttpPlan:
    """How ``sora2-mcp --transport http`` serves: address, endpoint, checks and (optionally) authentication."""

    host: str
    port: int
    path: str
    security: TransportSecuritySettings
    auth: AuthSettings | None = None
    verifier: TokenVerifier | None = None
    notes: list[str] = field(default_factory=list)
    # No MCP sessions kept in memory: every request stands alone, so a round-robin proxy in front of several
    # instances needs no sticky sessions. Nothing here needs a session: results, progress notifications (on the
    # request's own stream) and sequences (in the job record and the server's state) do not.
    stateless: bool = True

    def server_kwargs(self) -> dict[str, Any]:
        """What ``MCPServer(...)`` needs for authentication (nothing without it)."""
        if self.auth is None:
            return {}
        return {"auth": self.auth, "token_verifier": self.verifier, "middleware": [CallerMiddleware()]}

    def app_kwargs(self) -> dict[str, Any]:
        """What ``MCPServer.streamable_http_app()`` (and ``run("streamable-http")``, with the port) needs."""
        return {"streamable_http_path": self.path, "transport_security": self.security, "host": self.host,
                "stateless_http": self.stateless}


def plan_http(
    host: str,
    port: int,
    path: str,
    *,
    auth_mode: AuthMode | None = None,
    insecure: bool = False,
    extra_hosts: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    verifier: TokenVerifier | None = None,
    public_url: str | None = None,
    stateful: bool = False,
) -> HttpPlan:
    """Decide how to serve; BindRefused or ConfigurationError (exit 2) when it should not start."""
    env = os.environ if env is None else env
    mode = (auth_mode or env.get(ENV_AUTH) or "auto").strip().lower()
    if mode not in ("auto", "tokens", "none"):
        raise ConfigurationError(f"{ENV_AUTH} must be auto, tokens or none, got {mode!r}.")
    public_url = public_url or env.get(ENV_PUBLIC_URL) or None
    extra = [*(h for h in (env.get(ENV_ALLOWED_HOSTS) or "").split(",")), *extra_hosts]
    plan = HttpPlan(host, port, path, transport_security(allowed_hosts(host, extra, public_url)),
                    stateless=not stateful)
    store = TokenStore(tokens_file_path(env))
    use_tokens = verifier is not None or mode == "tokens" or (mode == "auto" and store.exists())
    if use_tokens and verifier is None:
        if not store.exists():
            raise ConfigurationError(f"--auth tokens, but there is no tokens file at {store.path} ({ENV_TOKENS_FILE}): "
                                     "add a token first with: sora2-mcp token add NAME")
        if not store.entries():
            plan.notes.append(f"the tokens file {store.path} holds no token: every request will be refused (401).")
        verifier = TokenFileVerifier(store)
    refusal = bind_refusal(host, use_tokens, insecure)
    if refusal:
        raise BindRefused(refusal)
    if use_tokens:
        resource = public_url or f"http://{_url_host(socket.gethostname() if host in WILDCARDS else host)}:{port}{path}"
        parts = urlsplit(resource)
        plan.auth = AuthSettings(
            issuer_url=env.get(ENV_ISSUER_URL) or f"{parts.scheme}://{parts.netloc}",
            resource_server_url=resource,
            # Static tokens are not issued for a resource; an OAuth verifier plugged in later checks audiences.
            validate_token_resource=False,
        )
        plan.verifier = verifier
    elif not is_loopback(host):
        plan.notes.append(f"serving on {host} WITHOUT authentication (--insecure): anyone who can reach it can "
                          "spend your budget.")
    if host in WILDCARDS and not extra and not public_url:
        plan.notes.append(f"clients must reach this server as one of {', '.join(plan.security.allowed_hosts)}; "
                          f"add the name they use with --allowed-host ({ENV_ALLOWED_HOSTS}).")
    return plan


# ---------------------------------------------------------------------------------------------- per caller
def caller_of(ctx: ServerRequestContext[Any, Any]) -> Caller | None:
    """The caller behind a request: the token the bearer middleware accepted for it (HTTP only)."""
    scope = getattr(ctx.request, "scope", None) or {}
    user = scope.get("user")
    return caller_of_access_token(user.access_token) if isinstance(user, AuthenticatedUser) else None


def not_found_text(video_id: str) -> str:
    return f"No video {video_id}: check the id (list_videos shows your jobs)."


class CallerMiddleware:
    """Runs each request as its caller and keeps other callers' jobs out of sight (see the module docstring)."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        caller = caller_of(ctx)
        if caller is None:
            return await call_next(ctx)
        with acting_as(caller):
            guard = getattr(ctx.lifespan_context, "guard", None)
            params = ctx.params or {}
            if guard is not None and ctx.method == "tools/call":
                hidden = [v for v in _video_ids(params.get("arguments")) if not guard.visible(v)]
                if hidden:
                    return CallToolResult(content=[TextContent(type="text", text=not_found_text(hidden[0]))],
                                          is_error=True)
                result = await call_next(ctx)
                if params.get("name") == "list_videos" and result is not None:
                    return _own_videos(CallToolResult.model_validate(result), guard)
                return result
            if guard is not None and ctx.method == "resources/read":
                uri = str(params.get("uri") or "")
                if uri.startswith(VIDEO_URI):
                    vid = uri[len(VIDEO_URI):].split("/", 1)[0]
                    if not guard.visible(vid):
                        raise MCPError(code=INVALID_PARAMS, message=f"No video {vid} on the service or in the local "
                                       "record.", data={"uri": uri})
            return await call_next(ctx)


def _video_ids(arguments: Any) -> list[str]:
    if not isinstance(arguments, Mapping):
        return []
    ids = [arguments.get("video_id")]
    many = arguments.get("video_ids")
    if isinstance(many, list):
        ids.extend(many)
    return [v.strip() for v in ids if isinstance(v, str) and v.strip()]


def _own_videos(result: CallToolResult, guard: Any) -> CallToolResult:
    """``list_videos`` without the jobs other callers created (a page may hold fewer; ``next_cursor`` continues)."""
    from .models import VideoListResult
    from .tools import render

    data = result.structured_content
    if result.is_error or not isinstance(data, dict) or not isinstance(data.get("videos"), list):
        return result
    data = {**data, "videos": [v for v in data["videos"] if guard.visible(str(v.get("video_id")))]}
    return render(VideoListResult.model_validate(data))
