"""Keys are removed from every text we show: error messages, log lines, excerpts of what a service sent.

A provider may repeat the key it was given (a 401 "Incorrect API key provided: sk-..."), and that text travels
on to the CLI, ComfyUI's dialog, log and history, and MCP results. Rather than trusting each front end to scrub
it, the key is registered here when the configuration is built, and removed in two places every front end goes
through: the construction of our exceptions (:class:`~.errors.Sora2Error`) and a logging filter.

The marker that replaces a key starts and ends with characters a key cannot hold (keys are printable ASCII
without spaces, see :func:`register_secret`), and its longest run of key characters is shorter than the
shortest key registered, so no key can re-form from a marker and the text around it.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import traceback
from typing import Any
from urllib.parse import quote, quote_plus

MARKER = "‹key hidden›"
# Shorter values are not secrets worth the risk of mangling ordinary words.
MIN_SECRET_LENGTH = 8
# Loggers that may carry service text or request details: ours, and httpx/httpcore (request lines, errors).
LOGGERS = ("sora2_bridge", "httpx", "httpcore")


class _Registry:
    """The secrets of this process and one compiled pattern that finds any of them (rebuilt on each addition)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, secret: str) -> None:
        with self._lock:
            if secret in self._secrets:
                return
            secrets = self._secrets | {secret}
            forms = sorted({form for s in secrets for form in _forms(s)}, key=len, reverse=True)
            self._pattern = re.compile("|".join(forms), re.IGNORECASE)
            self._secrets = secrets

    def clear(self) -> None:
        with self._lock:
            self._secrets, self._pattern = frozenset(), None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MARKER, text)


def _forms(secret: str) -> list[str]:
    """Regular expressions for the ways a key comes back in someone else's text.

    As given, also broken by whitespace (a line-wrapped or spaced-out echo) and in any letter case; and as it
    reads inside a URL, a JSON string or HTML.
    """
    spaced = r"\s*".join(re.escape(c) for c in secret)
    encoded = {quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1], html.escape(secret)}
    return [spaced, *(re.escape(e) for e in encoded - {secret})]


_SECRETS = _Registry()


def is_plain_key(value: str) -> bool:
    """Printable ASCII without spaces: what an HTTP header can carry, and what the marker logic relies on."""
    return bool(value) and all("!" <= c <= "~" for c in value)


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret of this process: from now on it is removed from errors and logs.

    Values shorter than :data:`MIN_SECRET_LENGTH` or with characters outside printable ASCII are ignored (the
    configuration refuses such keys before they are used).
    """
    if value and len(value) >= MIN_SECRET_LENGTH and is_plain_key(value):
        _SECRETS.add(value)


def forget_secrets() -> None:
    """Forget every registered secret (for tests that register throwaway keys)."""
    _SECRETS.clear()


# The bearer tokens our MCP server issues (``s2m_`` + 43 URL-safe characters): secrets by their shape, since the
# server keeps only their hashes and cannot register them.
_OWN_TOKENS = re.compile(r"s2m_[A-Za-z0-9_-]{20,}")


def redact(text: str) -> str:
    """``text`` with every registered secret, and anything shaped like a token we issue, replaced by :data:`MARKER`."""
    return _OWN_TOKENS.sub(MARKER, _SECRETS.redact(text))


def redact_value(value: Any) -> Any:
    """Strings redacted, tuples and lists of them too; anything else unchanged."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (tuple, list)):
        return type(value)(redact_value(v) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """Removes registered secrets from a log record: its rendered message, traceback and stack.

    The message is rendered here (``msg % args``) so that secrets hidden in arguments, including exception
    objects from other libraries, are caught before any handler formats the record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg, record.args = redact(record.getMessage()), None
        except Exception:  # a malformed record: logging reports it with msg and args, so scrub both
            record.msg, record.args = redact(str(record.msg)), redact_value(
                tuple(str(a) for a in record.args) if isinstance(record.args, tuple) else record.args
            )
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Attach the redacting filter to our loggers, httpx's and httpcore's, and every handler in place now.

    Front ends call this once at start-up, after configuring logging: a filter on a handler sees the records of
    every logger that reaches it (a logger's own filter only sees records logged on that very logger).
    """
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in LOGGERS)]
    targets: list[logging.Filterer] = [*loggers[1:], *(h for lg in loggers for h in lg.handlers)]
    if logging.lastResort is not None:
        targets.append(logging.lastResort)
    for target in targets:
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
