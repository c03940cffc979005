"""What a tool accepts: exactly the parameters it declares, and a refusal an agent can act on for anything else.

The SDK builds each tool's argument model from the function signature and, left alone, ignores names it does not
know: ``generate_video {"duration": 12}`` then makes (and pays for) the default 4 s clip. ``StrictTool`` is the
one place that changes this for every tool: its argument model forbids unknown names (the published input schema
says ``additionalProperties: false``), and a call that fails validation is answered with sentences that name the
parameter, say what it accepts and, for an unknown name, which declared parameter was probably meant, instead of
the library's report with its documentation links.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from pydantic import ConfigDict, ValidationError

from ..shared.models import VIDEO_ID_MAX, usable_id

# Names agents reach for that mean one of our parameters (checked before the spelling match).
ALIASES = {
    "duration": "seconds",
    "length": "seconds",
    "duration_seconds": "seconds",
    "resolution": "size",
    "aspect_ratio": "size",
    "dimensions": "size",
    "image_url": "image",
    "reference": "image",
    "input_reference": "image",
    "first_frame": "image",
    "id": "video_id",
    "video": "video_id",
    "file_name": "filename",
    "wait": "wait_seconds",
}

SHOWN_INPUT_CHARS = 60


def check_video_id(value: Any) -> Any:
    """A video id as the service shapes them, stripped of surrounding blanks; refused in a sentence otherwise."""
    if not isinstance(value, str):
        return value  # the declared type reports it
    vid = value.strip()
    if not vid:
        raise ValueError("A video id is required (the video_id returned by generate_video, like video_68f1...).")
    if usable_id(vid) is None:
        raise ValueError(
            f"{_show(value)} is not a valid video id: ids are letters, digits, '_' and '-' only (like video_68f1...), "
            f"at most {VIDEO_ID_MAX} characters. Pass the video_id returned by generate_video or list_videos."
        )
    return vid


def suggest(name: str, accepted: list[str]) -> str | None:
    """The declared parameter an unknown argument name probably meant, if any."""
    key = name.strip().lower().replace("-", "_")
    if key in accepted:
        return key
    target = ALIASES.get(key)
    if target in accepted:
        return target
    close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
    return close[0] if close else None


def explain(exc: ValidationError, accepted: list[str]) -> str:
    """One sentence per problem; never the library's URLs."""
    sentences = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "arguments"
        kind = error["type"]
        if kind == "extra_forbidden":
            meant = suggest(name, accepted)
            hint = f" Did you mean '{meant}'?" if meant else ""
            sentences.append(f"Unknown argument '{name}'.{hint} This tool accepts: {', '.join(accepted)}.")
        elif kind == "missing":
            sentences.append(f"The argument '{name}' is required.")
        else:
            message = error["msg"].removeprefix("Value error, ").rstrip(".")
            shown = "" if kind == "value_error" else f" (got {_show(error.get('input'))})"
            sentences.append(f"Invalid {name}: {message}{shown}.")
    return " ".join(sentences)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_INPUT_CHARS else text[: SHOWN_INPUT_CHARS - 3] + "..."


def compact_schema(schema: Any) -> Any:
    """The same input schema in fewer bytes: every client sends the tool list to the model with each request.

    Drops the generated ``title`` of every schema (the property name says it) and writes an optional parameter
    ``anyOf: [X, null], default: null`` as X: leaving it out is how a caller says "none" (an explicit null is
    still accepted by the validation, which keeps using the full model).
    """
    if isinstance(schema, list):
        return [compact_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs"):
            out[key] = {name: compact_schema(sub) for name, sub in value.items()}
        else:
            out[key] = compact_schema(value)
    options = out.get("anyOf")
    if isinstance(options, list) and "default" in out and out["default"] is None:
        rest = [o for o in options if o != {"type": "null"}]
        if len(rest) == 1 and len(options) == 2:
            del out["anyOf"], out["default"]
            out = {**rest[0], **out}
    return out


class StrictTool(Tool):
    """A tool whose arguments are exactly its parameters; validation problems come back as sentences."""

    @classmethod
    def from_function(cls, fn: Callable[..., Any], **kwargs: Any) -> StrictTool:  # type: ignore[override]
        tool = super().from_function(fn, **kwargs)
        loose = tool.fn_metadata.arg_model
        strict = type(loose.__name__, (loose,), {
            "__module__": loose.__module__,
            "model_config": ConfigDict(extra="forbid"),
        })
        tool.fn_metadata.arg_model = strict
        tool.parameters = compact_schema(strict.model_json_schema(by_alias=True))
        return tool  # type: ignore[return-value]

    @property
    def accepted(self) -> list[str]:
        return [f.alias or name for name, f in self.fn_metadata.arg_model.model_fields.items()]

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            self.fn_metadata.validate_arguments(arguments)
        except ValidationError as exc:  # the cause lets the SDK log the field names only, not the values
            raise ToolError(f"Error executing tool {self.name}: {explain(exc, self.accepted)}") from exc
        return await super().run(arguments, context, convert_result)


class ToolSet:
    """Collects tools with the same arguments as ``MCPServer.tool``; hand ``tools`` to ``MCPServer(tools=...)``."""

    def __init__(self) -> None:
        self.tools: list[Tool] = []

    def tool(self, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if kwargs.get("description"):  # one line: a description's line breaks are bytes the model reads for nothing
            kwargs["description"] = " ".join(kwargs["description"].split())

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.tools.append(StrictTool.from_function(fn, **kwargs))
            return fn

        return register
