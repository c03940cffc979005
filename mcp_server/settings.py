"""What the MCP server may do, from the environment (and ``sora2-mcp`` flags): money, folders, waiting.

The provider, base URL and key are the shared client's business (``SORA2_PROVIDER`` / ``SORA2_BASE_URL`` /
``SORA2_API_KEY``); everything here is specific to letting an agent spend money and touch files on its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ..shared.config import data_dir
from ..shared.errors import ConfigurationError

BudgetPeriod = Literal["day", "lifetime"]

ENV_OUTPUT_DIR = "SORA2_MCP_OUTPUT_DIR"
ENV_INPUT_DIRS = "SORA2_MCP_INPUT_DIRS"
ENV_MAX_PER_CALL = "SORA2_MCP_MAX_USD_PER_CALL"
ENV_BUDGET = "SORA2_MCP_BUDGET_USD"
ENV_BUDGET_PERIOD = "SORA2_MCP_BUDGET_PERIOD"
ENV_DEDUPE = "SORA2_MCP_DEDUPE_SECONDS"
ENV_MAX_IMAGE_MB = "SORA2_MCP_MAX_IMAGE_MB"
ENV_MAX_VIDEO_MB = "SORA2_MCP_MAX_VIDEO_MB"
ENV_AUTO_DOWNLOAD = "SORA2_MCP_AUTO_DOWNLOAD"
ENV_COLLECT_SECONDS = "SORA2_MCP_COLLECT_SECONDS"
# Signed URLs of saved files over HTTP (media_links.py; the secret, SORA2_MCP_URL_SECRET, is read there only).
ENV_PUBLIC_URL = "SORA2_MCP_PUBLIC_URL"
ENV_URL_TTL = "SORA2_MCP_URL_TTL_SECONDS"
ENV_INLINE_MAX_BYTES = "SORA2_MCP_INLINE_MAX_BYTES"

DEFAULT_MAX_PER_CALL = 2.0
DEFAULT_BUDGET = 10.0
DEFAULT_DEDUPE_SECONDS = 300.0
DEFAULT_MAX_IMAGE_MB = 10.0
DEFAULT_MAX_VIDEO_MB = 50.0  # a character's source: a short clip of the figure
DEFAULT_URL_TTL = 3600.0
DEFAULT_COLLECT_SECONDS = 20.0
DEFAULT_INLINE_MAX_BYTES = 2 * 1024 * 1024  # a resource read inlines media up to this; larger gets a URL
# A tool call that waits longer than this without being asked to is cut by many desktop clients (~60 s).
MAX_DEFAULT_WAIT = 45.0
# The longest wait an agent may ask for in one call; progress notifications keep idle timers alive meanwhile.
MAX_WAIT = 600.0
UNLIMITED = ("", "none", "off", "unlimited", "inf")


def _usd(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    text = raw.strip().lower().lstrip("$")
    if text in UNLIMITED:
        return float("inf")
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(
            f"{name} must be an amount in USD (e.g. 5 or 2.50) or 'unlimited', got {raw!r}."
        ) from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, got {raw!r}.")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}.") from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, got {raw!r}.")
    return value


def check_public_url(url: str) -> str:
    """A public URL as given (``--public-url`` / ``SORA2_MCP_PUBLIC_URL``) without a trailing slash, or a refusal."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"{ENV_PUBLIC_URL} (--public-url) must be the http(s) URL agents use to reach the MCP endpoint, like "
            f"https://videos.example.com/mcp, got {url!r}.")
    return url.strip().rstrip("/")


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    """Limits of one server. Folders are resolved (symlinks followed) so containment checks compare real paths."""

    output_dir: Path
    input_dirs: tuple[Path, ...] = ()
    max_usd_per_call: float = DEFAULT_MAX_PER_CALL
    budget_usd: float = DEFAULT_BUDGET
    budget_period: BudgetPeriod = "day"
    dedupe_seconds: float = DEFAULT_DEDUPE_SECONDS
    max_image_bytes: int = int(DEFAULT_MAX_IMAGE_MB * 1024 * 1024)
    max_video_bytes: int = int(DEFAULT_MAX_VIDEO_MB * 1024 * 1024)
    # Download finished jobs this server paid for even if no agent asks again (they expire about 1 h after).
    auto_download: bool = True
    collector_interval: float = DEFAULT_COLLECT_SECONDS
    # Where the spending ledger lives (default: the shared data folder, next to the job record).
    state_dir: Path = field(default_factory=data_dir)
    # Over HTTP: the URL agents reach the MCP endpoint at (None: derived), its path, and the signed URLs' lifetime.
    public_url: str | None = None
    http_path: str = "/mcp"
    url_ttl_seconds: float = DEFAULT_URL_TTL
    inline_max_bytes: int = DEFAULT_INLINE_MAX_BYTES

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_dir", Path(self.output_dir).expanduser().resolve())
        object.__setattr__(self, "input_dirs", tuple(Path(d).expanduser().resolve() for d in self.input_dirs))
        object.__setattr__(self, "state_dir", Path(self.state_dir).expanduser())
        if self.public_url is not None:
            object.__setattr__(self, "public_url", check_public_url(self.public_url))
        if not self.collector_interval > 0:
            raise ConfigurationError(
                f"{ENV_COLLECT_SECONDS} must be a positive number of seconds, got {self.collector_interval}.")
        if not self.url_ttl_seconds > 0:
            raise ConfigurationError(f"{ENV_URL_TTL} must be a positive number of seconds, got {self.url_ttl_seconds}.")
        if self.budget_period not in ("day", "lifetime"):
            raise ConfigurationError(f"{ENV_BUDGET_PERIOD} must be 'day' or 'lifetime', got {self.budget_period!r}.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``SORA2_MCP_*`` variables; keyword overrides (from command-line flags) win when not None."""
        env = os.environ if env is None else env
        inputs = tuple(p for p in (env.get(ENV_INPUT_DIRS) or "").split(os.pathsep) if p.strip())
        period = (env.get(ENV_BUDGET_PERIOD) or "day").strip().lower()
        settings = cls(
            output_dir=Path(env.get(ENV_OUTPUT_DIR) or data_dir(env) / "videos"),
            input_dirs=inputs,  # type: ignore[arg-type]
            max_usd_per_call=_usd(env, ENV_MAX_PER_CALL, DEFAULT_MAX_PER_CALL),
            budget_usd=_usd(env, ENV_BUDGET, DEFAULT_BUDGET),
            budget_period=period,  # type: ignore[arg-type]
            dedupe_seconds=_number(env, ENV_DEDUPE, DEFAULT_DEDUPE_SECONDS),
            max_image_bytes=int(_number(env, ENV_MAX_IMAGE_MB, DEFAULT_MAX_IMAGE_MB) * 1024 * 1024),
            max_video_bytes=int(_number(env, ENV_MAX_VIDEO_MB, DEFAULT_MAX_VIDEO_MB) * 1024 * 1024),
            auto_download=_flag(env, ENV_AUTO_DOWNLOAD, True),
            collector_interval=_number(env, ENV_COLLECT_SECONDS, DEFAULT_COLLECT_SECONDS),
            state_dir=data_dir(env),
            public_url=(env.get(ENV_PUBLIC_URL) or "").strip() or None,
            url_ttl_seconds=_number(env, ENV_URL_TTL, DEFAULT_URL_TTL),
            inline_max_bytes=int(_number(env, ENV_INLINE_MAX_BYTES, DEFAULT_INLINE_MAX_BYTES)),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings  # type: ignore[arg-type]
