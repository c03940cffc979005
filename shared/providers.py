"""Providers as data: base URL, key variables, models with their sizes, durations and prices.

The Sora 2 contract is the same everywhere (`/v1/videos`); what differs is where it lives, which key it takes and
which models/sizes/durations/prices it offers, and all of those changed during 2026. Keeping them in one table
means a new reseller or a new clip length is a data change, not a code change (and a user can make it in the config
file: ``config.model_overrides``). Every entry names its source. Unknown model names pass through (validated against
the provider's generic limits and priced at its dearest rate, which the estimate says: ``pricing.price_note``).
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
    # POST /videos/characters and the create's `characters` field: documented by OpenAI only, so a capability
    # (the user's config file may switch it on for a reseller that has them).
    characters: bool = False
    # What making one character costs (OpenAI lists no price for it).
    character_price_usd: float = 0.0

    def model(self, name: str) -> ModelSpec | None:
        """The entry for ``name``: its own (a config-file entry may name a dated alias), else its alias's."""
        return self.models.get(name) or self.models.get(self.aliases.get(name, name))

    def with_models(self, overrides: dict[str, ModelSpec]) -> Provider:
        """This provider with models added or replaced (the user's config file; see ``config.model_overrides``)."""
        return replace(self, models={**self.models, **overrides}) if overrides else self

    def with_characters(self, offered: bool | None) -> Provider:
        """This provider with the characters capability set by the user's config file (None: as in the table)."""
        return self if offered is None or offered == self.characters else replace(self, characters=offered)

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


# ------------------------------------------------------------------------------------------------- OpenAI
# Sizes per model: the OpenAI cookbook's Sora 2 prompting guide ("API Parameters"): sora-2 offers 720x1280 and
# 1280x720, sora-2-pro also 1024x1792 and 1792x1024. Lengths: the published spec (openai-openapi openapi.yaml,
# 2026-08) enumerates "4", "8", "12"; the March 2026 update of OpenAI's video-generation guide and of its Sora skill
# (openai/skills scripts/sora.py ALLOWED_SECONDS) adds "16" and "20" for both models and 1080x1920 / 1920x1080 for
# sora-2-pro only. Prices: OpenAI's model pages (sora-2 $0.10/s; sora-2-pro $0.30/s at 720p) and its published
# $0.50/s for sora-2-pro at 1024x1792 / 1792x1024. No price for 1080p is published: those sizes have no rate here,
# so they are priced at the model's dearest rate and the estimate says so (``pricing.price_note``).
_OPENAI_SORA2 = ModelSpec(
    "sora-2", SIZES_720P, SECONDS_2026, _flat(0.10, SIZES_720P), "fast, 720p",
    source="OpenAI model page ($0.10/s, 720p); lengths 4-20 s from OpenAI's March 2026 guide",
)
_OPENAI_SORA2_PRO = ModelSpec(
    "sora-2-pro",
    SIZES_720P + SIZES_TALL_WIDE + SIZES_1080P,
    SECONDS_2026,
    {**_flat(0.30, SIZES_720P), **_flat(0.50, SIZES_TALL_WIDE)},
    "higher quality, larger sizes",
    source="OpenAI model page and pricing ($0.30/s 720p, $0.50/s 1024x1792); 16/20 s and 1080p from OpenAI's "
           "March 2026 guide (1080p price unpublished)",
)

# ------------------------------------------------------------------------------------------------- CometAPI
# CometAPI's models. Model names and prices there change over time; a model_not_found answer for one of these says
# the table may be out of date, and the user's config file can add or replace entries.
# Lengths and sizes: CometAPI's create reference (apidoc.cometapi.com/api/video/sora-2/create, 2026) lists seconds
# 4, 8, 12, 16 and 20; 1280x720 and 720x1280 for sora-2, and 1792x1024 / 1024x1792 as well for sora-2-pro. It
# documents no 1080p size.
_COMET_SORA2 = ModelSpec(
    "sora-2", SIZES_720P, SECONDS_2026, _flat(0.10, SIZES_720P), "fast, 720p",
    # $0.10/s: the seed's price, also on CometAPI's model page mirror (dev.gocometapi.com); its main model page
    # showed $0.08/s in 2026.
    source="seed price $0.10/s (CometAPI model page mirror); sizes and 4-20 s from CometAPI's create reference",
)
_COMET_SORA2_HD = ModelSpec(
    "sora-2-hd", SIZES_720P + SIZES_TALL_WIDE, SECONDS_CLASSIC, _flat(0.16, SIZES_720P + SIZES_TALL_WIDE),
    "CometAPI HD",
    # $0.16/s: the seed's price. The name was documented only on CometAPI's chat-completions route (Oct 2025, with
    # 1792x1024 / 1024x1792), retired on 2025-11-11; whether /v1/videos still accepts it is unknown (expect
    # model_not_found). No page gives it 16 or 20 s, so it keeps the published spec's 4/8/12 s.
    source="seed price $0.16/s; documented on CometAPI's chat route (Oct 2025), retired 2025-11-11; "
           "4/8/12 s of the published spec",
)
_COMET_SORA2_PRO = ModelSpec(
    "sora-2-pro", SIZES_720P + SIZES_TALL_WIDE, SECONDS_2026,
    {**_flat(0.30, SIZES_720P), **_flat(0.50, SIZES_TALL_WIDE)}, "higher quality, larger sizes",
    # $0.30/s at 720p and $0.50/s at 1024x1792 / 1792x1024: CometAPI's blog price table (sora-2-pro-api);
    # the model and its sizes: apidoc.cometapi.com/api/video/sora-2/official/create-video.
    source="CometAPI blog price table; model, sizes and 4-20 s from CometAPI's create reference",
)

# ------------------------------------------------------------------------------------------------- custom
# An unknown service that speaks the contract is held to what the contract itself publishes (openapi.yaml: 4/8/12 s,
# the four sizes, sora-2 at 720p only per the cookbook), with the seed's model names and prices. Offering more here
# would let a request through that such a service may well refuse; a service that offers more is described in the
# user's config file ([providers.custom.models.NAME]), which is what that file is for.
_SPEC_SORA2 = replace(_OPENAI_SORA2, seconds=SECONDS_CLASSIC, source="published spec (openapi.yaml): 4/8/12 s, 720p")
_SPEC_SORA2_PRO = ModelSpec(
    "sora-2-pro", SIZES_720P + SIZES_TALL_WIDE, SECONDS_CLASSIC, dict(_OPENAI_SORA2_PRO.price_per_second),
    _OPENAI_SORA2_PRO.description, source="published spec (openapi.yaml): 4/8/12 s, four sizes; OpenAI's prices",
)


def widest(*tables: dict[str, ModelSpec], source: str) -> dict[str, ModelSpec]:
    """Every model of every table, each with every size and length any of them offers and the dearest rate per
    size: the simulator accepts whatever some provider documents, so tests can exercise every length and size."""
    merged: dict[str, ModelSpec] = {}
    for table in tables:
        for name, spec in table.items():
            old = merged.get(name)
            if old is None:
                merged[name] = replace(spec, source=source)
                continue
            prices = dict(old.price_per_second)
            for size, price in spec.price_per_second.items():
                prices[size] = max(price, prices.get(size, price))
            merged[name] = replace(
                old,
                sizes=tuple(dict.fromkeys(old.sizes + spec.sizes)),
                seconds=tuple(sorted(set(old.seconds) | set(spec.seconds), key=int)),
                price_per_second=prices,
            )
    return merged


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
    models={m.name: m for m in (_OPENAI_SORA2, _OPENAI_SORA2_PRO)},
    aliases={
        "sora-2-2025-10-06": "sora-2",
        "sora-2-2025-12-08": "sora-2",
        "sora-2-pro-2025-10-06": "sora-2-pro",
    },
    notes="OpenAI shut its own Sora 2 API down on 2026-09-24; kept for compatible deployments (e.g. Azure).",
    characters=True,  # POST /videos/characters, 2026-03 (docs/sora-api-research.md)
)

CUSTOM = Provider(
    name="custom",
    base_url=None,
    key_env=("SORA2_API_KEY",),
    models={m.name: m for m in (_SPEC_SORA2, _COMET_SORA2_HD, _SPEC_SORA2_PRO)},
    notes="Any base URL that speaks the /v1/videos contract (set SORA2_BASE_URL).",
    status_words=RELAY_STATUS_WORDS,
)

LOCAL = Provider(
    name="local",
    base_url="http://127.0.0.1:8765/v1",
    key_env=(),
    # Everything any provider above documents (4-20 s, 1080p on sora-2-pro, sora-2-hd), so every length and size
    # can be tried for free; prices are the dearest a provider lists.
    models=widest(COMETAPI.models, OPENAI.models, CUSTOM.models, source="the simulator: every provider's offer"),
    needs_key=False,
    max_concurrent_jobs=4,
    initial_poll_interval=1.0,
    notes="The local simulator (`sora2 simulate`). Free; prices shown are the dearest a provider lists.",
    characters=True,
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
