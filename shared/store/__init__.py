"""Shared state behind every front end: the job record and the MCP spending ledger, in SQLite or PostgreSQL."""

from .engine import ENV_DATABASE_URL, Database, StoreUnavailable, database_url
from .leases import Leases

__all__ = ["ENV_DATABASE_URL", "Database", "Leases", "StoreUnavailable", "database_url"]
