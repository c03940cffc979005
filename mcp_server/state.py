"""What the server's lifespan holds for every request: settings, the spending guard, and the job plumbing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..shared.errors import ConfigurationError
from ..shared.providers import Provider
from .guard import SpendingGuard
from .jobs import Jobs
from .settings import Settings

if TYPE_CHECKING:
    from .media_links import MediaLinks
    from .sequences import Sequences


@dataclass
class AppState:
    settings: Settings
    provider: Provider
    guard: SpendingGuard
    jobs: Jobs | None
    config_error: str | None = None
    sequences: Sequences | None = None  # the storyboards running in the background
    media: MediaLinks | None = None  # signed URLs of saved files (over HTTP)

    def require_jobs(self) -> Jobs:
        """The job plumbing, or the configuration problem (e.g. no API key) as a readable error."""
        if self.jobs is None:
            raise ConfigurationError(self.config_error or "The server has no usable configuration.")
        return self.jobs

def app_state(ctx: Any) -> AppState:
    """The AppState from a tool's or resource's ``Context``."""
    return ctx.request_context.lifespan_context  # type: ignore[no-any-return]
