"""Where the provider, base URL and key come from: arguments, then environment, then a user config file.

The key is held as a ``SecretStr`` so it never shows in a repr, a log line or a traceback, and it is never read
from a file inside the repository (ComfyUI saves widget values into workflows and media metadata; a key there
leaks). The user config file lives in the platform's config folder, e.g. ``~/.config/sora2-bridge/config.toml``:

    provider = "cometapi"
    [keys]
    cometapi = "sk-..."
    # A model the provider added or renamed, a length or size it added, or a price that changed (merged over the
    # built-in entry of that name; a key left out keeps the built-in value, or for a new model the provider's):
    [providers.cometapi.models."sora-2-pro"]
    price_per_second = 0.30        # or a table by size: { "1280x720" = 0.30, "1792x1024" = 0.50 }
    sizes = ["1280x720", "720x1280", "1792x1024", "1024x1792"]
    seconds = [4, 8, 12, 16, 20, 24]
    # A reseller that has the character endpoints (POST /videos/characters), which our table cannot know:
    [providers.cometapi]
    characters = true

Every provider's table can be extended this way except ``local``: the simulator's table ships with it (it offers
every length and size some provider documents), and it must start even when this file is broken.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, SecretStr

from .errors import ConfigurationError
from .providers import DEFAULT_PROVIDER, PROVIDERS, ModelSpec, Provider, get_provider
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


_MODEL_KEYS = ("price_per_second", "sizes", "seconds", "description")
_SIZE = re.compile(r"[1-9][0-9]{1,4}x[1-9][0-9]{1,4}")


def _whole_seconds(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool) and str(value).strip().isdigit() \
        and int(value) > 0


def _rate(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _model_override(spec: Provider, name: str, entry: Any, where: str) -> ModelSpec:
    """One ``[providers.P.models.NAME]`` table as a model spec, merged over the built-in entry of that name.

    Checked whole here, naming the entry, because a wrong table would otherwise let through (or refuse) requests
    and misprice them without a word."""
    def problem(text: str) -> ConfigurationError:
        return ConfigurationError(
            f"{where}: {text}. Write e.g. price_per_second = 0.10, sizes = [\"720x1280\"], seconds = [4, 8]."
        )

    if not isinstance(entry, dict):
        raise problem(f"must be a table with {', '.join(_MODEL_KEYS)}, got {entry!r}")
    unknown = sorted(set(entry) - set(_MODEL_KEYS))
    if unknown:
        raise problem(f"unknown key {', '.join(unknown)} (the keys are {', '.join(_MODEL_KEYS)})")
    base = spec.model(name)
    sizes = entry.get("sizes", base.sizes if base else spec.all_sizes)
    if not isinstance(sizes, (list, tuple)) or not sizes or not all(
            isinstance(v, str) and _SIZE.fullmatch(v) for v in sizes):
        raise problem(f"sizes must be a non-empty list of WIDTHxHEIGHT strings, got {sizes!r}")
    seconds = entry.get("seconds", base.seconds if base else spec.all_seconds)
    if not isinstance(seconds, (list, tuple)) or not seconds or not all(_whole_seconds(v) for v in seconds):
        raise problem(f"seconds must be a non-empty list of whole numbers of seconds, got {seconds!r}")
    price = entry.get("price_per_second", base.price_per_second if base else None)
    if price is None:
        raise problem("price_per_second is missing (a model the built-in table lacks needs a price)")
    prices = price if isinstance(price, dict) else dict.fromkeys(sizes, price)
    if not prices or not all(_rate(v) for v in prices.values()):
        raise problem(f"price_per_second must be USD per second (0 or more), or a table of them by size, got {price!r}")
    stray = sorted(set(prices) - set(sizes))
    if stray:
        raise problem(f"price_per_second prices {', '.join(stray)}, which is not in sizes")
    return ModelSpec(
        name, tuple(sizes), tuple(sorted({str(int(v)) for v in seconds}, key=int)),
        {str(k): float(v) for k, v in prices.items()},
        str(entry.get("description", base.description if base else "")), source=f"your config file ({where})",
    )


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


def characters_override(spec: Provider, providers_table: Any, path: Path) -> bool | None:
    """``characters = true|false`` under ``[providers.NAME]``: whether this provider has the character endpoints
    (None: as in the built-in table)."""
    mine = providers_table.get(spec.name) if isinstance(providers_table, dict) else None
    if not isinstance(mine, dict) or "characters" not in mine:
        return None
    value = mine["characters"]
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"[providers.{spec.name}] characters in {path} must be true or false, got {value!r}."
        )
    return value


def _configured(spec: Provider, file_conf: _FileConfig, env: Mapping[str, str]) -> dict[str, ModelSpec]:
    """The config file's models for ``spec``; none for the simulator, which must start with a broken file."""
    if not spec.needs_key:
        return {}
    return model_overrides(spec, file_conf.get("providers"), config_file_path(env))


def _characters(spec: Provider, file_conf: _FileConfig, env: Mapping[str, str]) -> bool | None:
    """The config file's characters switch for ``spec``; none for the simulator (it has them, whatever the file)."""
    if not spec.needs_key:
        return None
    return characters_override(spec, file_conf.get("providers"), config_file_path(env))


def _with_file(spec: Provider, file_conf: _FileConfig, env: Mapping[str, str]) -> Provider:
    return spec.with_models(_configured(spec, file_conf, env)).with_characters(_characters(spec, file_conf, env))


def _provider_name(provider: str | None, env: Mapping[str, str], file_conf: _FileConfig) -> str:
    return provider or env.get("SORA2_PROVIDER") or file_conf.get("provider") or DEFAULT_PROVIDER


def provider_table(provider: str | None = None, env: Mapping[str, str] | None = None) -> Provider:
    """The table of the provider a client would use (argument > environment > config file), with the config
    file's models, for pricing and checking without a key or a base URL (``sora2 cost``)."""
    env = os.environ if env is None else env
    file_conf = _FileConfig(env)
    return _with_file(get_provider(_provider_name(provider, env, file_conf)), file_conf, env)


def provider_tables(env: Mapping[str, str] | None = None) -> dict[str, Provider]:
    """Every provider's table with the models the user's config file adds, e.g. for choices offered in a UI."""
    env = os.environ if env is None else env
    file_conf = _FileConfig(env)
    return {name: _with_file(spec, file_conf, env) for name, spec in PROVIDERS.items()}


class ClientConfig(BaseModel):
    """Everything a client needs to reach one provider. Safe to print: the key is a SecretStr."""

    model_config = ConfigDict(frozen=True)

    provider: str
    base_url: str
    api_key: SecretStr
    max_concurrent_jobs: int = 2
    # Models the user's config file adds to or replaces in the provider's table.
    models: dict[str, ModelSpec] = {}
    # The config file's characters switch for this provider (None: as in the table).
    characters: bool | None = None

    def model_post_init(self, context: Any) -> None:
        """However a config is built, its key is from now on removed from errors and logs."""
        if self.api_key.get_secret_value() != LOCAL_PLACEHOLDER_KEY:
            register_secret(self.api_key.get_secret_value())

    @property
    def provider_spec(self) -> Provider:
        return get_provider(self.provider).with_models(self.models).with_characters(self.characters)


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

    spec = get_provider(_provider_name(provider, env, file_conf))
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
    return ClientConfig(
        provider=spec.name,
        models=_configured(spec, file_conf, env),
        characters=_characters(spec, file_conf, env),
        base_url=url,
        api_key=SecretStr(_check_key(str(key), source)),
        max_concurrent_jobs=spec.max_concurrent_jobs,
    )
