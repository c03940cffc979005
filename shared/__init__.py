"""The one client of the Sora 2 Videos API, shared by the CLI, the ComfyUI nodes and the MCP server.

Imports neither ComfyUI, torch nor mcp.
"""

from .. import __version__
from .client import AsyncSoraClient, SoraClient
from .config import ClientConfig, resolve_config
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CancelledError,
    ConfigurationError,
    ConnectionFailedError,
    ContentPolicyError,
    DownloadError,
    ExpiredError,
    InvalidInputError,
    JobFailedError,
    NotFoundError,
    RateLimitError,
    ServerError,
    Sora2Error,
    WaitTimeoutError,
)
from .media import fit_image, load_image_file
from .models import CreateVideoRequest, DeletedVideo, ImageInput, Video, VideoList
from .polling import PollPolicy
from .pricing import estimate_cost
from .progress import ProgressEvent
from .providers import PROVIDERS, Provider, get_provider
from .record import JobRecord
from .retry import RetryPolicy

__all__ = [
    "__version__",
    "APIError", "AsyncSoraClient", "AuthenticationError", "BadRequestError", "CancelledError", "ClientConfig",
    "ConfigurationError", "ConnectionFailedError", "ContentPolicyError", "CreateVideoRequest", "DeletedVideo",
    "DownloadError", "ExpiredError", "ImageInput", "InvalidInputError", "JobFailedError", "JobRecord",
    "NotFoundError", "PROVIDERS", "PollPolicy", "ProgressEvent", "Provider", "RateLimitError", "RetryPolicy",
    "ServerError", "SoraClient", "Sora2Error", "Video", "VideoList", "WaitTimeoutError", "estimate_cost",
    "fit_image", "get_provider", "load_image_file", "resolve_config",
]
