"""Cost before spending: USD = seconds x the provider's rate for the model and size.

Two kinds of callers: a validated request always has a price (:func:`estimate_cost`); a service's answer may carry
a length or size we cannot read, and then its price is unknown (:func:`cost_if_known` returns None, and
:func:`format_usd` says "unknown") rather than an error after the job was paid for.
"""

from __future__ import annotations

import math
from typing import Any

from .models import CreateVideoRequest
from .providers import Provider

UNKNOWN = "unknown"
UNKNOWN_MODEL_NOTE = "unknown model: priced at the highest rate"


def rate_per_second(provider: Provider, model: str, size: str) -> float:
    """The provider's rate; an unknown model is priced at the provider's dearest rate so we never undershoot."""
    spec = provider.model(model)
    return spec.price_for(size) if spec else provider.fallback_price_per_second


def price_note(provider: Provider, model: str, size: str) -> str | None:
    """Why an estimate is a guess, or None when the table lists the rate for this model and size.

    A guessed price looks exactly like a listed one; every front end shows this beside the amount (see
    :func:`describe_estimate`), so a user knows to check the provider's price for a model the table lacks.
    """
    spec = provider.model(model)
    if spec is None:
        return UNKNOWN_MODEL_NOTE
    if size not in spec.price_per_second:
        return f"no listed price for {model} at {size}: priced at the model's highest rate"
    return None


def describe_estimate(provider: Provider, model: str, size: str, usd: float | None) -> str:
    """The amount as front ends show it: "$0.40", or "$2.00 (unknown model: priced at the highest rate)"."""
    note = price_note(provider, model, size)
    return f"{format_usd(usd)} ({note})" if note else format_usd(usd)


def estimate_cost(provider: Provider, model: str, size: str, seconds: str | int) -> float:
    return round(rate_per_second(provider, model, size) * int(seconds), 4)


def estimate_request(provider: Provider, request: CreateVideoRequest) -> float:
    return estimate_cost(provider, request.model, request.size, request.seconds)


def seconds_if_known(seconds: Any) -> float | None:
    """A clip length from an answer ("4", 4, "4.5", 4.5, "8s"), or None if it is not a positive finite number."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, str)):
        return None
    try:
        n = float(seconds.strip().lower().removesuffix("s") if isinstance(seconds, str) else seconds)
    except (ValueError, OverflowError):
        return None
    return n if math.isfinite(n) and n > 0 else None


def cost_if_known(provider: Provider, model: Any, size: Any, seconds: Any) -> float | None:
    """The price of a job as the service described it, or None when its size or length cannot be read.

    An unknown model or size is priced at the dearest matching rate, as in :func:`rate_per_second`.
    """
    length = seconds_if_known(seconds)
    if length is None or not isinstance(size, str) or not size:
        return None
    name = model if isinstance(model, str) and model else provider.default_model
    usd = rate_per_second(provider, name, size) * length
    return round(usd, 4) if math.isfinite(usd) else None


def format_usd(amount: float | None) -> str:
    """Dollars for display; an amount we could not compute is shown as "unknown", never as $0.00."""
    return UNKNOWN if amount is None else f"${amount:,.2f}"
