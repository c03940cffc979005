"""docs/storyboard.md stays true: its schema is the model's, and its example plans as the text says."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sora2_bridge.shared.providers import COMETAPI
from sora2_bridge.shared.storyboard import load_storyboard, plan_storyboard, storyboard_json_schema

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_published_schema_is_the_models() -> None:
    text = (DOCS / "storyboard.md").read_text()
    block = re.search(r"## JSON Schema.*?```json\n(.*?)```", text, re.S)
    assert block is not None
    assert json.loads(block.group(1)) == storyboard_json_schema()


def test_the_example_plans_as_documented() -> None:
    path = DOCS / "examples" / "storyboard.yaml"
    plan = plan_storyboard(load_storyboard(path), COMETAPI, base_dir=path.parent)
    assert plan.total_usd == 2.0 and len(plan.shots) == 5
    assert [s.id for s in plan.film_shots] == ["fold", "launch", "street", "sea"]
    assert sum(s.seconds for s in plan.film_shots) == 20
    assert load_storyboard(path).model_dump(by_alias=True)["shots"][1]["start"]["continue"] == "fold"
