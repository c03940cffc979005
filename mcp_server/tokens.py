"""Static bearer tokens for ``sora2-mcp --transport http``: a file of hashes, and the SDK's ``TokenVerifier``.

A token is ``s2m_`` plus 32 random bytes from :mod:`secrets` (URL-safe base64), shown once by ``sora2-mcp token
add`` and never stored: the file (``SORA2_MCP_TOKENS_FILE``, default in the user config folder, mode 0600) keeps
its SHA-256, its name, when it was made, and its per-call limit and daily budget.

Why a plain SHA-256 and not a salted slow hash (scrypt, PBKDF2): salts and slow hashes protect secrets people
choose, which an attacker holding the file can guess. A 256-bit random token cannot be guessed with any hash, so a
slow one would add nothing but its cost, paid on every request by every caller (each MCP request carries the
token) and by anyone sending garbage tokens (a lever to burn the server's CPU); a per-token salt would also force
hashing the presented token once per stored token. The hash is still needed: the file alone must not let anyone
spend. The ``s2m_`` prefix lets secret scanners recognise a leaked token.

The file is re-read when it changes, so ``token revoke`` takes effect on a running server at the next request.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import platformdirs
from filelock import FileLock
from mcp.server.auth.provider import AccessToken

from ..shared.errors import ConfigurationError
from .callers import UNLIMITED, Caller

ENV_TOKENS_FILE = "SORA2_MCP_TOKENS_FILE"
APP_NAME = "sora2-bridge"
TOKEN_PREFIX = "s2m_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def tokens_file_path(env: Mapping[str, str] | None = None) -> Path:
    """``SORA2_MCP_TOKENS_FILE``, else ``tokens.json`` in the user config folder (next to config.toml)."""
    env = os.environ if env is None else env
    if env.get(ENV_TOKENS_FILE):
        return Path(env[ENV_TOKENS_FILE]).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "mcp-tokens.json"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenEntry:
    """One line of the tokens file: never the token itself."""

    name: str
    sha256: str
    created_at: str
    per_call_usd: float | None = None
    daily_usd: float | None = None

    def caller(self) -> Caller:
        return Caller(
            self.name,
            UNLIMITED if self.per_call_usd is None else self.per_call_usd,
            UNLIMITED if self.daily_usd is None else self.daily_usd,
        )


def validate_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ConfigurationError(
            f"A token name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit; got {name!r}."
        )
    return name


def _amount(value: float | None, flag: str) -> float | None:
    if value is not None and not (value >= 0 and value != UNLIMITED):
        raise ConfigurationError(f"{flag} must be a positive amount in USD, got {value!r}.")
    return value


class TokenStore:
    """The tokens file: read (cached until it changes), and changed under a lock shared by every process, each
    change rewriting it whole, atomically, with mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._entries: list[TokenEntry] = []

    def exists(self) -> bool:
        return self.path.is_file()

    def entries(self) -> list[TokenEntry]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._entries = None, []
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._entries, self._stamp = self._read(), stamp
        return list(self._entries)

    def _read(self) -> list[TokenEntry]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            return [TokenEntry(**row) for row in data.get("tokens", [])]
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"The tokens file {self.path} cannot be read ({exc.__class__.__name__}); fix or remove it "
                f"({ENV_TOKENS_FILE} names another)."
            ) from None

    def _write(self, entries: list[TokenEntry]) -> None:
        """Replace the file whole: a new 0600 file beside it, renamed over it, so no reader sees half a file."""
        body = json.dumps({"tokens": [asdict(e) for e in entries]}, indent=1) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tokens-")  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._stamp = None

    @contextlib.contextmanager
    def _changing(self) -> Iterator[list[TokenEntry]]:
        """The entries as they are now, to change in place; written back when the block ends without an error.

        Two ``token add`` run at once would otherwise both read the old file and the second write would drop the
        first one's token. So the read, the change and the write happen under an exclusive lock that every
        process changing this file takes: ``flock`` on a sibling lock file (the tokens file itself is replaced
        by each write, so it cannot carry the lock). Readers need no lock: a write is one ``os.replace``.
        ``filelock`` does the locking on every platform (``flock`` on POSIX, ``msvcrt`` on Windows).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with FileLock(self.path.with_name(self.path.name + ".lock"), mode=0o600):
            entries = self._read() if self.path.is_file() else []  # never the cache: another process wrote last
            yield entries
            self._write(entries)

    def add(self, name: str, per_call_usd: float | None = None, daily_usd: float | None = None) -> str:
        """Make a token named ``name``; return it (the only time it exists outside the caller's hands)."""
        validate_name(name)
        entry_limits = _amount(per_call_usd, "--per-call-usd"), _amount(daily_usd, "--daily-usd")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._changing() as entries:
            if any(e.name == name for e in entries):
                raise ConfigurationError(
                    f"A token named {name!r} exists already: revoke it first, or choose another name.")
            entries.append(TokenEntry(
                name=name, sha256=hash_token(token),
                created_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
                per_call_usd=entry_limits[0], daily_usd=entry_limits[1],
            ))
        return token

    def revoke(self, name: str) -> None:
        with self._changing() as entries:
            kept = [e for e in entries if e.name != name]
            if len(kept) == len(entries):
                known = ", ".join(e.name for e in entries) or "none"
                raise ConfigurationError(f"No token named {name!r} (tokens: {known}).")
            entries[:] = kept

    def find(self, token: str) -> TokenEntry | None:
        """The entry of a presented token; every entry is compared in constant time."""
        digest = hash_token(token)
        found = None
        for entry in self.entries():
            if hmac.compare_digest(entry.sha256, digest):
                found = entry
        return found


class TokenFileVerifier:
    """The SDK's ``TokenVerifier`` over a :class:`TokenStore`: a known token becomes an ``AccessToken`` whose
    ``client_id`` is the token's name and whose claims carry its limits (see :func:`caller_of_access_token`)."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store

    async def verify_token(self, token: str) -> AccessToken | None:
        entry = self.store.find(token.strip())
        if entry is None:
            return None
        return AccessToken(
            token=f"sha256:{entry.sha256}",  # the raw token is not kept on the request
            client_id=entry.name,
            scopes=[],
            claims={"per_call_usd": entry.per_call_usd, "daily_usd": entry.daily_usd},
        )


def caller_of_access_token(access: AccessToken) -> Caller:
    """The :class:`Caller` an access token stands for. Tokens from another verifier (an OAuth server plugged in
    later) carry no limits of their own: only the server's apply to them."""
    claims = access.claims or {}
    per_call, daily = claims.get("per_call_usd"), claims.get("daily_usd")
    return Caller(
        access.client_id,
        UNLIMITED if per_call is None else float(per_call),
        UNLIMITED if daily is None else float(daily),
    )


# ---------------------------------------------------------------------------------------------- commands
def token_command(argv: list[str]) -> int:
    """``sora2-mcp token add|revoke|list``."""
    import argparse

    p = argparse.ArgumentParser(prog="sora2-mcp token", description=(
        f"Bearer tokens for the HTTP transport, kept as hashes in {ENV_TOKENS_FILE} "
        f"(default {tokens_file_path({})})."))
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="make a token and print it once")
    add.add_argument("name")
    add.add_argument("--per-call-usd", type=float, help="this token's per-call limit in USD")
    add.add_argument("--daily-usd", type=float, help="this token's daily budget in USD (resets at local midnight)")
    rev = sub.add_parser("revoke", help="remove a token (a running server refuses it at the next request)")
    rev.add_argument("name")
    sub.add_parser("list", help="names, limits and creation times (never tokens or hashes)")
    args = p.parse_args(argv)
    store = TokenStore(tokens_file_path())
    try:
        if args.action == "add":
            token = store.add(args.name, args.per_call_usd, args.daily_usd)
            print(token)
            print(f"Token {args.name!r} saved (as a hash) in {store.path}. Copy it now: it is not shown again. "
                  f"Clients send it as 'Authorization: Bearer <token>'.", file=sys.stderr)
        elif args.action == "revoke":
            store.revoke(args.name)
            print(f"Token {args.name!r} revoked.", file=sys.stderr)
        else:
            entries = store.entries()
            if not entries:
                print(f"No tokens in {store.path}.", file=sys.stderr)
            for e in entries:
                print(f"{e.name}\tper-call {_usd(e.per_call_usd)}\tdaily {_usd(e.daily_usd)}\tcreated {e.created_at}")
    except ConfigurationError as exc:
        print(f"sora2-mcp token: {exc}", file=sys.stderr)
        return 2
    return 0


def _usd(value: float | None) -> str:
    return "server limit" if value is None else f"${value:.2f}"
