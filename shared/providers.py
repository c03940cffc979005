"""Providers as data: base URL, key variables, models with their sizes, durations and prices.

The Sora 2 contract is the same everywhere (`/v1/videos`); what differs is where it lives, which key it takes and
which models/sizes/durations/prices it offers, and all of those changed during 2026. Keeping them in one table
means a new reseller or a new clip length is a data change, not a code change. Unknown model names pass through
(validated against the provider's generic limits and priced at its fallback rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

SIZES_720P = ("720x1280", "1280x720")
SIZES_TALL_WIDE = ("1024x1792", "1792x1024")
SIZES_1080P = ("1080x1920", "1920x1080")
SECONDS_CLASSIC = ("4", "8", "12")
# A March 2026 update of the guide and of CometAPI's page added 16 s and 20 s clips.
SECONDS_2026 = ("4", "8", "12", "16", "20")


# The contract's status words, each meaning itself whatever its case.
STANDARD_STATUS_WORDS = {w: w for w in ("queued", "in_progress", "completed", "failed")}
# Status words of other vendors' models that CometAPI serves on the same /v1/videos route (its own reference and
# real answers recorded by its users: SUBMITTED, IN_PROGRESS, SUCCESS, FAILED, ERROR, error).
RELAY_STATUS_WORDS = {
    **STANDARD_STATUS_WORDS,
    "submitted": "queued",
    "success": "completed",
    "error": "failed",
}


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts, and its price in USD per second of output by size (``source``: where documented)."""

    name: str
    sizes: tuple[str, ...]
    seconds: tuple[str, ...]
    price_per_second: dict[str, float]
    description: str = ""
    source: str = ""

    def price_for(self, size: str) -> float:
        if size in self.price_per_second:
            return self.price_per_second[size]
        return max(self.price_per_second.values())


@dataclass(frozen=True)
class Provider:
    """A service that speaks the `/v1/videos` contract."""

    name: str
    base_url: str | None
    key_env: tuple[str, ...]
    models: dict[str, ModelSpec]
    default_model: str = "sora-2"
    needs_key: bool = True
    # Running jobs the provider tolerates before answering 429 "Too many running tasks".
    max_concurrent_jobs: int = 2
    # First poll after a create: real renders take minutes, the local simulator's take seconds.
    initial_poll_interval: float = 8.0
    notes: str = ""
    aliases: dict[str, str] = field(default_factory=dict)
    # Status word (lower-case) -> the contract's word; matched case-insensitively, unknown words stay as they are.
    status_words: dict[str, str] = field(default_factory=lambda: dict(STANDARD_STATUS_WORDS))

    def model(self, name: str) -> ModelSpec | None:
        return self.models.get(self.aliases.get(name, name))

    def with_models(self, overrides: dict[str, ModelSpec]) -> Provider:
        """This provider with models added or replaced (the user's config file; see ``config.model_overrides``)."""
        return replace(self, models={**self.models, **overrides}) if overrides else self

    @property
    def all_sizes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for spec in self.models.values():
            seen.update(dict.fromkeys(spec.sizes))
        return tuple(seen)

    @property
    def all_seconds(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for spec in self.models.values():
            seen.update(dict.fromkeys(spec.seconds))
        return tuple(sorted(seen, key=int))

    @property
    def fallback_price_per_second(self) -> float:
        """Price used for a model the table does not know: the dearest known rate, so estimates never undershoot."""
        return max(p for spec in self.models.values() for p in spec.price_per_second.values())


def _flat(price: float, sizes: tuple[str, ...]) -> dict[str, float]:
    return dict.fromkeys(sizes, price)


_SORA2 = ModelSpec("sora-2", SIZES_720P, SECONDS_2026, _flat(0.10, SIZES_720P), "fast, 720p")
_SORA2_PRO = ModelSpec(
    "sora-2-pro",
    SIZES_720P + SIZES_TALL_WIDE + SIZES_1080P,
    SECONDS_2026,
    {**_flat(0.30, SIZES_720P), **_flat(0.50, SIZES_TALL_WIDE), **_flat(0.50, SIZES_1080P)},
    "higher quality, larger sizes",
)
_SORA2_HD = ModelSpec(
    "sora-2-hd", SIZES_720P + SIZES_TALL_WIDE, SECONDS_2026, _flat(0.16, SIZES_720P + SIZES_TALL_WIDE), "CometAPI HD"
)

# CometAPI's models. Model names and prices there change over time; a model_not_found answer for one of these says
# the table may be out of date, and the user's config file can add or replace entries.
_COMET_SORA2 = replace(
    _SORA2,
    # $0.10/s: the seed's price, also on CometAPI's model page mirror (dev.gocometapi.com); its main model page
    # showed $0.08/s in 2026. Sizes and 4-20 s: apidoc.cometapi.com/api/video/sora-2/create (2026).
    source="seed price $0.10/s (CometAPI model page mirror); sizes and seconds from CometAPI's create reference",
)
_COMET_SORA2_HD = replace(
    _SORA2_HD,
    # $0.16/s: the seed's price. The name was documented only on CometAPI's chat-completions route (Oct 2025),
    # retired on 2025-11-11; whether /v1/videos still accepts it is unknown (expect model_not_found).
    source="seed price $0.16/s; documented on CometAPI's chat route (Oct 2025), retired 2025-11-11",
)
_COMET_SORA2_PRO = replace(
    _SORA2_PRO,
    # $0.30/s at 720p and $0.50/s at 1024x1792 / 1792x1024: CometAPI's blog price table (sora-2-pro-api);
    # the model and its sizes: apidoc.cometapi.com/api/video/sora-2/official/create-video.
    source="CometAPI blog price table; model and sizes from CometAPI's create reference",
)

COMETAPI = Provider(
    name="cometapi",
    base_url="https://api.cometapi.com/v1",
    key_env=("SORA2_API_KEY", "COMETAPI_KEY"),
    models={m.name: m for m in (_COMET_SORA2, _COMET_SORA2_HD, _COMET_SORA2_PRO)},
    notes="The default provider. Prices from the project brief (sora-2 $0.10/s, sora-2-hd $0.16/s); check your plan.",
    status_words=RELAY_STATUS_WORDS,
)

OPENAI = Provider(
    name="openai",
    base_url="https://api.openai.com/v1",
    key_env=("SORA2_API_KEY", "OPENAI_API_KEY"),
    models={m.name: m for m in (_SORA2, _SORA2_PRO)},
    aliases={
        "sora-2-2025-10-06": "sora-2",
        "sora-2-2025-12-08": "sora-2",
        "sora-2-pro-2025-10-06": "sora-2-pro",
    },
    notes="OpenAI shut its own Sora 2 API down on 2026-09-24; kept for compatible deployments (e.g. Azure).",
)

CUSTOM = Provider(
    name="custom",
    base_url=None,
    key_env=("SORA2_API_KEY",),
    models={m.name: m for m in (_SORA2, _SORA2_HD, _SORA2_PRO)},
    notes="Any base URL that speaks the /v1/videos contract (set SORA2_BASE_URL).",
    status_words=RELAY_STATUS_WORDS,
)

LOCAL = Provider(
    name="local",
    base_url="http://127.0.0.1:8765/v1",
    key_env=(),
    models={m.name: m for m in (_SORA2, _SORA2_HD, _SORA2_PRO)},
    needs_key=False,
    max_concurrent_jobs=4,
    initial_poll_interval=1.0,
    notes="The local simulator (`sora2 simulate`). Free; prices shown are what CometAPI would charge.",
)

PROVIDERS: dict[str, Provider] = {p.name: p for p in (COMETAPI, OPENAI, CUSTOM, LOCAL)}
DEFAULT_PROVIDER = "cometapi"


def get_provider(name: str) -> Provider:
    from .errors import ConfigurationError

    try:
        return PROVIDERS[name.lower()]
    except KeyError:
        raise ConfigurationError(
            f"Unknown provider {name!r}. Choose one of: {', '.join(PROVIDERS)} "
            "(use 'custom' with SORA2_BASE_URL for any other compatible service)."
        ) from None
