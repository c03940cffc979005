"""Where the provider, base URL and key come from: arguments, then environment, then a user config file.

The key is held as a ``SecretStr`` so it never shows in a repr, a log line or a traceback, and it is never read
from a file inside the repository (ComfyUI saves widget values into workflows and media metadata; a key there
leaks). The user config file lives in the platform's config folder, e.g. ``~/.config/sora2-bridge/config.toml``:

    provider = "cometapi"
    [keys]
    cometapi = "sk-..."
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, SecretStr

from .errors import ConfigurationError
from .providers import DEFAULT_PROVIDER, Provider, get_provider

APP_NAME = "sora2-bridge"
LOCAL_PLACEHOLDER_KEY = "sk-local-simulator"


def config_file_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("SORA2_CONFIG"):
        return Path(env["SORA2_CONFIG"]).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Per-user data folder: the job record and downloaded clips live here unless configured otherwise."""
    env = os.environ if env is None else env
    if env.get("SORA2_DATA_DIR"):
        return Path(env["SORA2_DATA_DIR"]).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME))


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"Cannot read the config file {path}: {exc}") from None


class ClientConfig(BaseModel):
    """Everything a client needs to reach one provider. Safe to print: the key is a SecretStr."""

    model_config = ConfigDict(frozen=True)

    provider: str
    base_url: str
    api_key: SecretStr
    max_concurrent_jobs: int = 2

    @property
    def provider_spec(self) -> Provider:
        return get_provider(self.provider)


def resolve_config(
    provider: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Resolve arguments > environment > user config file, and fail with one clear message if a key is missing."""
    env = os.environ if env is None else env
    file_conf = _read_config_file(config_file_path(env))

    name = provider or env.get("SORA2_PROVIDER") or file_conf.get("provider") or DEFAULT_PROVIDER
    spec = get_provider(name)
    url = base_url or env.get("SORA2_BASE_URL") or file_conf.get("base_url") or spec.base_url
    if not url:
        raise ConfigurationError(
            f"Provider {spec.name!r} needs a base URL: set SORA2_BASE_URL (e.g. https://example.com/v1) "
            "or pass --base-url."
        )
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"Base URL must start with http:// or https://, got {url!r}.")

    key = api_key
    if not key:
        for var in spec.key_env:
            if env.get(var):
                key = env[var]
                break
    if not key:
        keys = file_conf.get("keys") or {}
        key = keys.get(spec.name) if isinstance(keys, dict) else None
        key = key or file_conf.get("api_key")
    if not key:
        if spec.needs_key:
            names = " or ".join(spec.key_env)
            raise ConfigurationError(
                f"No API key for provider {spec.name!r}: set the environment variable {names} "
                f"(or add it under [keys] in {config_file_path(env)}). "
                "To try everything without a key, use the local simulator: --simulate."
            )
        key = LOCAL_PLACEHOLDER_KEY
    return ClientConfig(
        provider=spec.name,
        base_url=url,
        api_key=SecretStr(key),
        max_concurrent_jobs=spec.max_concurrent_jobs,
    )
