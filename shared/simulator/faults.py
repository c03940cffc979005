"""Fault injection: the failures a real Videos API produces, on demand and reproducibly.

A client's retry, resume and reconcile logic can only be trusted if it is exercised, and the real service fails
rarely and at random. Every fault here comes in a counter form ("the next N calls") that tests can rely on, and
most also in a fraction form drawn from a seeded RNG, so a soak run with the same seed fails the same way twice.
Counters count down in the live config, so ``GET /_sim/faults`` shows what is still armed.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Endpoint names, as used by fault scoping and by the request statistics (GET /_sim/stats).
Endpoint = Literal["create", "retrieve", "list", "delete", "content", "remix", "extend", "edit", "character_create",
                   "character_retrieve"]


class FaultConfig(BaseModel):
    """What to break. Assign fields at runtime (in-process or via ``PUT /_sim/faults``); they act on the next call."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    seed: int = 0
    endpoints: list[Endpoint] | None = Field(
        None, description="Limit rate_limit_*, server_error_*, latency_ms and answer_latency_ms to these endpoints; "
        "None = all."
    )
    rate_limit_next: int = Field(0, ge=0, description="The next N API calls answer 429 rate_limit_exceeded.")
    rate_limit_fraction: float = Field(0.0, ge=0.0, le=1.0)
    retry_after_seconds: float = Field(1.0, ge=0.0, description="Retry-After sent with injected 429s.")
    server_error_next: int = Field(0, ge=0, description="The next N API calls answer server_error_status.")
    server_error_fraction: float = Field(0.0, ge=0.0, le=1.0)
    server_error_status: Literal[500, 502, 503] = 500
    latency_ms: int = Field(0, ge=0, description="Real (wall-clock) delay added before every API call.")
    answer_latency_ms: int = Field(
        0, ge=0, description="Real delay between doing the work of a call and sending its answer (a create's job "
        "exists while its caller still waits: a caller that dies meanwhile never learns its id).")
    drop_download_next: int = Field(
        0, ge=0, description="The next N content downloads send headers and half the body, then drop the connection."
    )
    truncate_download_next: int = Field(
        0, ge=0, description="The next N content downloads send half the body and end as if complete."
    )
    malformed_json_next: int = Field(0, ge=0, description="The next N retrieves answer 200 with broken JSON.")
    lose_create_next: int = Field(
        0,
        ge=0,
        description="The next N job-creating calls (create/remix/extend/edit) create the job, then drop the response.",
    )
    quota_exhausted_next: int = Field(
        0, ge=0, description="The next N API calls answer that the account's balance or quota is used up."
    )
    likeness_next: int = Field(
        0, ge=0, description="The next N character uploads are refused as showing a real person's likeness."
    )
    policy_marker: str = Field(
        "__policy__", description="A prompt containing this fails with moderation_blocked; empty = never."
    )


class FaultInjector:
    """Decides, per call, which fault fires. Holds the seeded RNG beside the (replaceable) config."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self._rng = random.Random(self.config.seed)

    def replace(self, config: FaultConfig) -> None:
        """Install a new config and reseed, so the same PUT always yields the same sequence of faults."""
        self.config = config
        self._rng = random.Random(config.seed)

    def applies_to(self, endpoint: str) -> bool:
        scope = self.config.endpoints
        return scope is None or endpoint in scope

    def take(self, counter: str) -> bool:
        """Consume one unit of a ``*_next`` counter; True if the fault fires on this call."""
        left = getattr(self.config, counter)
        if left > 0:
            setattr(self.config, counter, left - 1)
            return True
        return False

    def rate_limited(self, endpoint: str) -> bool:
        return self.applies_to(endpoint) and (
            self.take("rate_limit_next") or self._draw(self.config.rate_limit_fraction)
        )

    def server_error(self, endpoint: str) -> bool:
        return self.applies_to(endpoint) and (
            self.take("server_error_next") or self._draw(self.config.server_error_fraction)
        )

    def violates_policy(self, prompt: str) -> bool:
        marker = self.config.policy_marker
        return bool(marker) and marker in prompt

    def _draw(self, fraction: float) -> bool:
        # Draw only when a fraction is set, so arming a fraction later does not depend on earlier quiet calls.
        return fraction > 0 and self._rng.random() < fraction
