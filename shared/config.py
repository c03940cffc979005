"""Where the provider, base URL and key come from: arguments, then environment, then a user config file.

The key is held as a ``SecretStr`` so it never shows in a repr, a log line or a traceback, and it is never read
from a file inside the repository (ComfyUI saves widget values into workflows and media metadata; a key there
leaks). The user config file lives in the platform's config folder, e.g. ``~/.config/sora2-bridge/config.toml``:

    provider = "cometapi"
    [keys]
    cometapi = "sk-..."
    # A model the provider added or renamed, or a price that changed (merged over the built-in table):
    [providers.cometapi.models."sora-2-pro"]
    price_per_second = 0.30        # or a table by size: { "1280x720" = 0.30, "1792x1024" = 0.50 }
    sizes = ["1280x720", "720x1280", "1792x1024", "1024x1792"]
    seconds = [4, 8, 12]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, SecretStr

from .errors import ConfigurationError
from .providers import DEFAULT_PROVIDER, ModelSpec, Provider, get_provider
from .redact import is_plain_key, register_secret

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


def _read_config_file(env: Mapping[str, str]) -> dict[str, Any]:
    """The user config file as a dict. The default file may be absent; one named by SORA2_CONFIG must exist."""
    path = config_file_path(env)
    explicit = bool(env.get("SORA2_CONFIG"))
    if path.is_dir():
        where = "SORA2_CONFIG points to" if explicit else "The config path"
        raise ConfigurationError(
            f"{where} a folder ({path}); it must name a TOML file, e.g. {path / 'config.toml'}."
        )
    if not path.exists():
        if explicit:
            raise ConfigurationError(
                f"SORA2_CONFIG names {path}, which does not exist. Create the file or unset SORA2_CONFIG."
            )
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


class _FileConfig:
    """The user config file, read only when a value is actually taken from it.

    A malformed file is a clear error for a command that needs it, and no obstacle for one that does not
    (the local simulator with its base URL given, as ``--simulate`` resolves it).
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._data: dict[str, Any] | None = None

    def get(self, name: str) -> Any:
        if self._data is None:
            self._data = _read_config_file(self._env)
        return self._data.get(name)


def _check_base_url(url: str, source: str) -> str:
    """Refuse a base URL that cannot be right, or that carries credentials, before anything is sent.

    Credentials in the URL (``user:password@host``) would be sent as Basic auth instead of the key, and shown
    in connection errors; the key belongs in its variable.
    """
    url = url.strip().rstrip("/")
    if "@" in urlsplit(url if "//" in url else "//" + url).netloc:
        raise ConfigurationError(
            f"The base URL from {source} carries credentials (user:password@host). Remove them from the URL and "
            "put the key in SORA2_API_KEY (or the provider's key variable)."
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"Base URL must start with http:// or https://, got {url!r}.")
    return url


def _check_key(key: str, source: str) -> str:
    """A key is sent in an HTTP header: surrounding whitespace (a pasted newline) is dropped, anything else that
    a header cannot carry is refused here, without showing the key."""
    key = key.strip()
    if not is_plain_key(key):
        raise ConfigurationError(
            f"The API key from {source} contains spaces, control characters or non-ASCII characters; "
            "copy it again from the provider's dashboard."
        )
    return key


def _model_override(spec: Provider, name: str, entry: Any, where: str) -> ModelSpec:
    """One ``[providers.P.models.NAME]`` table as a model spec, merged over the built-in entry of that name."""
    if not isinstance(entry, dict) or set(entry) - {"price_per_second", "sizes", "seconds", "description"}:
        raise ConfigurationError(
            f"{where} must be a table with price_per_second, sizes and seconds (and optionally description)."
        )
    base = spec.model(name)
    try:
        sizes = tuple(str(v) for v in entry.get("sizes", base.sizes if base else spec.all_sizes))
        seconds = tuple(str(int(v)) for v in entry.get("seconds", base.seconds if base else spec.all_seconds))
        price = entry.get("price_per_second", base.price_per_second if base else None)
        if price is None:
            raise ValueError("price_per_second is missing")
        prices = ({str(k): float(v) for k, v in price.items()} if isinstance(price, dict)
                  else dict.fromkeys(sizes, float(price)))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"{where}: {exc}. Write e.g. price_per_second = 0.10, sizes = [\"720x1280\"], seconds = [4, 8]."
        ) from None
    if not sizes or not seconds or not prices or any(p < 0 for p in prices.values()):
        raise ConfigurationError(f"{where}: sizes and seconds must not be empty, prices not negative.")
    return ModelSpec(name, sizes, seconds, prices, str(entry.get("description", base.description if base else "")),
                     source=f"your config file ({where})")


def model_overrides(spec: Provider, providers_table: Any, path: Path) -> dict[str, ModelSpec]:
    """The models the user's config file adds to or replaces in ``spec``'s table."""
    if providers_table is None:
        return {}
    mine = providers_table.get(spec.name) if isinstance(providers_table, dict) else None
    models = mine.get("models", {}) if isinstance(mine, dict) else {}
    if not isinstance(models, dict):
        raise ConfigurationError(f"[providers.{spec.name}.models] in {path} must be a table of models.")
    return {
        name: _model_override(spec, name, entry, f"[providers.{spec.name}.models.{name}] in {path}")
        for name, entry in models.items()
    }


class ClientConfig(BaseModel):
    """Everything a client needs to reach one provider. Safe to print: the key is a SecretStr."""

    model_config = ConfigDict(frozen=True)

    provider: str
    base_url: str
    api_key: SecretStr
    max_concurrent_jobs: int = 2
    # Models the user's config file adds to or replaces in the provider's table.
    models: dict[str, ModelSpec] = {}

    def model_post_init(self, context: Any) -> None:
        """However a config is built, its key is from now on removed from errors and logs."""
        if self.api_key.get_secret_value() != LOCAL_PLACEHOLDER_KEY:
            register_secret(self.api_key.get_secret_value())

    @property
    def provider_spec(self) -> Provider:
        return get_provider(self.provider).with_models(self.models)


def resolve_config(
    provider: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Resolve arguments > environment > user config file, and fail with one clear message if a key is missing.

    The key is registered as a secret of the process (see :mod:`.redact`): from here on it is removed from every
    error and log line, whatever a service answers.
    """
    env = os.environ if env is None else env
    file_conf = _FileConfig(env)

    name = provider or env.get("SORA2_PROVIDER") or file_conf.get("provider") or DEFAULT_PROVIDER
    spec = get_provider(name)
    url, source = base_url, "the base_url argument (--base-url)"
    if not url and env.get("SORA2_BASE_URL"):
        url, source = env["SORA2_BASE_URL"], "SORA2_BASE_URL"
    if not url and file_conf.get("base_url"):
        url, source = str(file_conf.get("base_url")), f"base_url in {config_file_path(env)}"
    url = url or spec.base_url
    if not url:
        raise ConfigurationError(
            f"Provider {spec.name!r} needs a base URL: set SORA2_BASE_URL (e.g. https://example.com/v1) "
            "or pass --base-url."
        )
    url = _check_base_url(url, source)

    key, source = api_key, "the api_key argument"
    for var in spec.key_env:
        if not key and env.get(var):
            key, source = env[var], var
    if not key and spec.needs_key:
        keys = file_conf.get("keys")
        key = keys.get(spec.name) if isinstance(keys, dict) else None
        key, source = key or file_conf.get("api_key"), str(config_file_path(env))
    if not key:
        if spec.needs_key:
            names = " or ".join(spec.key_env)
            raise ConfigurationError(
                f"No API key for provider {spec.name!r}: set the environment variable {names} "
                f"(or add it under [keys] in {config_file_path(env)}). "
                "To try everything without a key, use the local simulator: --simulate."
            )
        key = LOCAL_PLACEHOLDER_KEY
    # The simulator (no key) must start even with a broken config file, so its table is not read from it.
    overrides = model_overrides(spec, file_conf.get("providers"), config_file_path(env)) if spec.needs_key else {}
    return ClientConfig(
        provider=spec.name,
        models=overrides,
        base_url=url,
        api_key=SecretStr(_check_key(str(key), source)),
        max_concurrent_jobs=spec.max_concurrent_jobs,
    )
