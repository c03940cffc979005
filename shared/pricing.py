"""Cost before spending: USD = seconds x the provider's rate for the model and size."""

from __future__ import annotations

from .models import CreateVideoRequest
from .providers import Provider


def rate_per_second(provider: Provider, model: str, size: str) -> float:
    """The provider's rate; an unknown model is priced at the provider's dearest rate so we never undershoot."""
    spec = provider.model(model)
    return spec.price_for(size) if spec else provider.fallback_price_per_second


def estimate_cost(provider: Provider, model: str, size: str, seconds: str | int) -> float:
    return round(rate_per_second(provider, model, size) * int(seconds), 4)


def estimate_request(provider: Provider, request: CreateVideoRequest) -> float:
    return estimate_cost(provider, request.model, request.size, request.seconds)


def format_usd(amount: float) -> str:
    return f"${amount:,.2f}"
