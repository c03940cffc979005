"""The fault catalog shared by the CLI, ComfyUI and MCP fault suites, and the helpers that apply it.

Every test in this folder that takes a ``fault`` argument runs once per entry of FAULTS. docs/reliability.md
holds the same table. Faults are set on the simulator at the moment that matters: just before the job is
created (``at="create"``), after it finished and before its download (``at="download"``), or, for expiry, by
moving the simulator's clock past ``expires_at`` (``at="expired"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Fault:
    name: str
    settings: dict[str, Any]
    # None: the clip must arrive intact. Otherwise words the user's error message must contain.
    error_words: tuple[str, ...] | None = None
    at: str = "create"
    prompt_suffix: str = ""

    def apply(self, sim, stage: str) -> None:
        if stage == self.at:
            for key, value in self.settings.items():
                setattr(sim.faults, key, value)
            if self.at == "expired":
                sim.state.advance_clock(sim.state.config.ttl + 60)


FAULTS: tuple[Fault, ...] = (
    Fault("429 storm with Retry-After", {"rate_limit_next": 4, "retry_after_seconds": 0.2}),
    Fault("500 then recovery", {"server_error_next": 2, "server_error_status": 500}),
    Fault("502 bad gateway", {"server_error_next": 2, "server_error_status": 502}),
    Fault("503 overloaded", {"server_error_next": 2, "server_error_status": 503}),
    Fault("connection dropped mid-download", {"drop_download_next": 1}, at="download"),
    Fault("truncated body", {"truncate_download_next": 1}, at="download"),
    Fault("malformed JSON", {"malformed_json_next": 1}, at="download"),
    Fault("create response lost", {"lose_create_next": 1}),
    Fault("content-policy failure", {}, error_words=("moderation_blocked",), prompt_suffix=" __policy__"),
    Fault("content expired", {}, error_words=("expired",), at="expired"),
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fault" in metafunc.fixturenames:
        metafunc.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
