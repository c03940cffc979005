"""Answers we did not expect from the service, and the errors that say so without losing anything paid for.

A job-creating call that succeeded on the service but whose answer we cannot use is the one failure that can cost
money silently. The errors here therefore always carry what is needed to find the job again: the raw answer (a
short, safe excerpt in the message, the whole answer on the exception and in the record) or the candidate ids.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import Sora2Error

# Characters of an answer quoted in a message: enough to recognise it, short enough to read.
EXCERPT_CHARS = 160


def safe_excerpt(answer: Any, *, secret: str | None = None) -> str:
    """A short one-line quote of an answer: ASCII only (no control characters reach a terminal), key removed."""
    try:
        text = json.dumps(answer, ensure_ascii=True, default=repr, sort_keys=True)
    except (TypeError, ValueError):
        text = ascii(answer)
    if secret:
        text = text.replace(secret, "[redacted]")
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


class UnexpectedAnswerError(Sora2Error):
    """The service answered a job-creating call, but without a usable job id.

    The answer is kept whole on :attr:`answer` and in the record's intent row; the message quotes an excerpt.
    """

    kind = "unexpected_answer"

    def __init__(self, kind: str, answer: Any, *, secret: str | None = None) -> None:
        self.operation = kind
        self.answer = answer
        super().__init__(
            f"The service's answer to the {kind} request had no job id, and no matching job was found in the "
            f"account's list: {safe_excerpt(answer, secret=secret)}. A job may still have been created: check "
            "`sora2 list` before trying again."
        )


class AmbiguousJobError(Sora2Error):
    """A lost answer could not be matched to exactly one job: the candidates are recorded, none is adopted.

    Adopting one could hand this caller another caller's job (the same clip twice, one job paid for and lost), so
    the choice is left to the user.
    """

    kind = "ambiguous_job"

    def __init__(self, kind: str, video_ids: list[str]) -> None:
        self.operation = kind
        self.video_ids = list(video_ids)
        self.video_id = self.video_ids[0] if self.video_ids else None
        ids = ", ".join(self.video_ids)
        collect = " or ".join(f"`sora2 download {vid}`" for vid in self.video_ids)
        super().__init__(
            f"The {kind} request got no answer, and it cannot be told which job it created: {ids} "
            f"{'matches' if len(self.video_ids) == 1 else 'match'} it while another request for the same prompt "
            f"was in flight. Nothing was adopted; the candidates are in the local record with status 'ambiguous'. "
            f"Collect yours with {collect}."
        )
