"""Cost estimates per provider, model and size."""

import pytest

from sora2_bridge.shared import estimate_cost, get_provider


@pytest.mark.parametrize(
    "provider,model,size,seconds,usd",
    [
        ("cometapi", "sora-2", "1280x720", "4", 0.40),
        ("cometapi", "sora-2-hd", "1792x1024", "12", 1.92),
        ("openai", "sora-2-pro", "1280x720", "8", 2.40),
        ("openai", "sora-2-pro", "1792x1024", "12", 6.00),
        ("openai", "sora-2-pro-2025-10-06", "1024x1792", "4", 2.00),
        ("openai", "sora-2", "720x1280", "20", 2.00),
    ],
)
def test_estimate(provider, model, size, seconds, usd):
    assert estimate_cost(get_provider(provider), model, size, seconds) == pytest.approx(usd)
