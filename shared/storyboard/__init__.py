"""Storyboards: many chained shots, one price, one film, one resume; the same core for the CLI, MCP and ComfyUI.

The public API every front end calls (all in ``sora2_bridge.shared.storyboard``)::

    sb = load_storyboard(path_or_text_or_mapping)                  # Storyboard, or InvalidInputError naming shot+field
    plan = plan_storyboard(sb, client.provider, base_url=client.config.base_url, base_dir=folder,
                           film=None, images={"s1": png_bytes},     # sends nothing; images: first frames by shot id
                           characters={"Mochi": "char_..."})        # character ids by name from the front end
    plan.check_budget(max_usd)                                     # InvalidInputError if the total is over
    plan.as_dict(); plan.total_usd; plan.id                        # show the plan; plan.id dedupes repeated calls
    result = await run_storyboard(client, plan, out_dir=folder, on_event=cb, should_cancel=flag)
    # -> StoryboardResult (film, contact_sheet, shots, characters, spent_usd) or raises StoryboardFailed (.result)
    statuses = storyboard_status(plan, client.record)              # what is done/left, from the record only

Front ends stay thin: they parse their own input into a Storyboard, show ShotEvents and the result.
"""

from .film import contact_sheet, join_film
from .model import (
    CharacterEntry,
    Crossfade,
    Defaults,
    Join,
    Output,
    Shot,
    Start,
    Storyboard,
    load_storyboard,
    storyboard_json_schema,
)
from .plan import Plan, PlannedCharacter, PlannedShot, plan_storyboard
from .run import CharacterResult, ShotEvent, ShotResult, StoryboardFailed, StoryboardResult, run_storyboard
from .status import ShotStatus, storyboard_status

__all__ = [
    "CharacterEntry", "CharacterResult", "PlannedCharacter", "Crossfade", "Defaults", "Join", "Output", "Plan", "PlannedShot", "Shot", "ShotEvent", "ShotResult",
    "ShotStatus", "Start", "Storyboard", "StoryboardFailed", "StoryboardResult", "contact_sheet", "join_film",
    "load_storyboard", "plan_storyboard", "run_storyboard", "storyboard_json_schema", "storyboard_status",
]
