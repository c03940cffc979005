"""A local simulator of the Sora 2 Videos API: the embedded default for users and the backend of every test.

The real service is paid, slow, rate limited and (at OpenAI) shutting down, so the project must be fully usable
and testable offline. The simulator speaks the same wire contract, renders real H.264/AAC clips, and can inject
the failures a client has to survive. Start one with :class:`SimulatorServer` (in-process) or :func:`serve`
(blocking), or mount :func:`create_app` on ``httpx.ASGITransport``.
"""

from .app import ConnectionAborted, create_app
from .faults import FaultConfig
from .server import SimulatorServer, serve
from .store import SimulatorConfig, SimulatorState

__all__ = [
    "ConnectionAborted",
    "FaultConfig",
    "SimulatorConfig",
    "SimulatorServer",
    "SimulatorState",
    "create_app",
    "serve",
]
