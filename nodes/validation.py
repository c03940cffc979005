"""Queue-time checks of a node's widget values as a whole: one message per problem.

ComfyUI calls a node's ``validate_inputs`` with the inputs its signature names, and when it returns a message it
records that message once *per named input* (and skips its own option/min/max checks for those inputs). A check
that needs model, size, seconds and provider together would show the same message four times. So each node's
``validate_inputs`` names exactly one input, and reads the other widget values of the same node from the prompt
being queued, which :func:`remember_prompt` (a ComfyUI ``on_prompt`` handler, run before validation in the same
request) keeps for the request's task. (ComfyUI's server does not check the options of V3 combo widgets itself,
so the checks here cover a value outside the list too, e.g. ``seconds=5`` from an old saved workflow.)
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

log = logging.getLogger("sora2_bridge.nodes")

# The API-format prompt of the request being validated ({node_id: {"class_type", "inputs"}}), per asyncio task.
_PROMPT: ContextVar[dict[str, Any] | None] = ContextVar("sora2_bridge_prompt", default=None)


def remember_prompt(json_data: Any) -> Any:
    """``PromptServer.add_on_prompt_handler`` hook: keep the prompt for the validation that follows; change nothing."""
    prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
    _PROMPT.set(prompt if isinstance(prompt, dict) else None)
    return json_data


def install() -> bool:
    """Register :func:`remember_prompt` with ComfyUI's server (once). False when there is no server (tests, CLI)."""
    try:
        from server import PromptServer
    except ImportError:
        return False
    server = getattr(PromptServer, "instance", None)
    if server is None or not hasattr(server, "add_on_prompt_handler"):
        return False
    if remember_prompt not in getattr(server, "on_prompt_handlers", ()):
        server.add_on_prompt_handler(remember_prompt)
    return True


def _node_inputs(unique_id: Any) -> dict[str, Any]:
    prompt = _PROMPT.get()
    node = prompt.get(str(unique_id)) if prompt and unique_id is not None else None
    inputs = node.get("inputs") if isinstance(node, dict) else None
    return inputs if isinstance(inputs, dict) else {}


def linked_inputs(unique_id: Any) -> set[str]:
    """The inputs of node ``unique_id`` that are wired to another node's output in the prompt being queued.

    Their values are known only when the graph runs, but that they are wired is known now (e.g. a character
    socket on a provider without characters can be refused before anything runs).
    """
    return {name for name, value in _node_inputs(unique_id).items() if _is_link(value)}


def _is_link(value: Any) -> bool:
    """[node_id, output_index]: how the API format writes a link."""
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)


def widget_values(unique_id: Any) -> dict[str, Any]:
    """The literal widget values of node ``unique_id`` in the prompt being queued; linked inputs are left out.

    Empty when the prompt is unknown (the handler is not installed): the checks then use what they were given.
    """
    out = {}
    for name, value in _node_inputs(unique_id).items():
        if isinstance(value, dict) and "__value__" in value:  # how the frontend wraps a list-valued widget
            value = value["__value__"]
        if isinstance(value, list):  # [node_id, output_index]: a link, known only when the graph runs
            continue
        out[name] = value
    return out
