"""Storyboard refusals and plans: every refusal names the shot and the field, and nothing is ever sent."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sora2_bridge.shared.errors import InvalidInputError
from sora2_bridge.shared.providers import COMETAPI, LOCAL
from sora2_bridge.shared.storyboard import load_storyboard, plan_storyboard, storyboard_json_schema
from sora2_bridge.shared.storyboard.model import Shot, Start, Storyboard

BASE = """
defaults: {size: 1280x720, seconds: 4}
shots:
  - id: s1
    prompt: A lighthouse at dusk
  - id: s2
    prompt: The lamp turns on
    start: {continue: s1}
  - id: s3
    prompt: A ship passes
  - id: s4
    prompt: The ship at night
    start: {remix: s3}
  - id: s5
    prompt: The ship sails on
    start: {extend: s4}
    seconds: 8
"""


def plan(text: str, provider=COMETAPI, base_dir: Path | None = None):
    return plan_storyboard(load_storyboard(text), provider, base_dir=base_dir or Path.cwd())


def refused(text: str, provider=COMETAPI) -> str:
    with pytest.raises(InvalidInputError) as caught:
        plan(text, provider)
    return str(caught.value)


@pytest.mark.parametrize(("text", "words"), [
    ("shots: [{id: s1, prompt: a, secs: 4}]", ['shot "s1"', '"secs"', "did you mean 'seconds'"]),
    ("shots: [{id: s1, prompt: a, start: {contine: s1}}]", ['shot "s1"', '"start.contine"', "'continue'"]),
    ("shots: [{id: s1, prompt: a}, {id: s3, prompt: b, start: {continue: s9}}]",
     ['shot "s3"', '"start.continue"', "no shot 's9'"]),
    ("shots: [{id: s1, prompt: a, start: {image: x.png, remix: s1}}]", ['shot "s1"', '"start"', "exactly one"]),
    ("shots: [{id: s1, prompt: a}, {id: s1, prompt: b}]", ['shot "s1"', '"id"', "unique"]),
    ("shots: [{id: s1, prompt: a, join_after: fade}]", ['shot "s1"', '"join_after"', "crossfade_ms"]),
    ("shots: [{id: s1, prompt: a, join_after: {crossfade_ms: 9000}}]", ['"join_after.crossfade_ms"', "2000"]),
    ("shots: [{id: s1}]", ['shot "s1"', '"prompt"', "required"]),
    ("defaults: {sise: 1280x720}\nshots: [{id: s1, prompt: a}]", ['"defaults.sise"', "'size'"]),
    ("shots: []", ['"shots"']),
    ("shots: [{id: s1, prompt: a, start: {continue: s1}}]", ['shot "s1"', "itself"]),
    # provider limits, checked by the plan
    ("shots: [{id: s1, prompt: a, seconds: 5}]", ['shot "s1"', '"seconds"', "4, 8, 12"]),
    ("defaults: {model: sora-2-pro, size: 1792x1024}\nshots: [{id: s1, prompt: a, model: sora-2}]",
     ['shot "s1"', '"model"', "1792x1024", "sora-2"]),
    ("defaults: {size: 1920x1080}\nshots: [{id: s1, prompt: a}]", ['"defaults.size"', "sora-2-pro"]),
    ("shots: [{id: s1, prompt: a}, {id: s2, prompt: b, start: {remix: s1}, seconds: 8}]",
     ['shot "s2"', '"seconds"', "remix keeps"]),
    ("shots: [{id: s1, prompt: a}, {id: s2, prompt: b, start: {extend: s1}, seconds: 7}]",
     ['shot "s2"', '"seconds"']),
    ("shots: [{id: s1, prompt: a, start: {image: missing.png}}]", ['shot "s1"', '"start.image"', "not found"]),
    ("shots:\n  - id: a\n    prompt: x\n    start: {continue: c}\n  - id: b\n    prompt: y\n    start: {remix: a}\n"
     "  - id: c\n    prompt: z\n    start: {extend: b}\n", ["cycle", '"a"', '"b"', '"c"']),
])
def test_each_refusal_names_the_shot_and_the_field(text: str, words: list[str]) -> None:
    message = refused(text, LOCAL)
    for word in words:
        assert word in message, message


def test_refusals_send_nothing(sim) -> None:
    for text in ("shots: [{id: s1, prompt: a, seconds: 5}]", "shots: [{id: s1, prompt: a, bogus: 1}]"):
        with pytest.raises(InvalidInputError):
            plan_storyboard(load_storyboard(text), LOCAL, base_url=sim.base_url)
    assert sum(sim.state.requests.values()) == 0 and sim.state.jobs_created == 0


known_keys = set(Shot.model_fields) | {"continue"}


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(lambda k: k not in known_keys))
def test_any_unknown_shot_key_is_refused_by_name(key: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_storyboard({"shots": [{"id": "s1", "prompt": "a", key: 1}]})
    assert f"unknown key {key!r}" in str(caught.value) and 'shot "s1"' in str(caught.value)


def test_yaml_and_json_give_the_same_storyboard(tmp_path: Path) -> None:
    sb = load_storyboard(BASE)
    as_json = json.dumps(sb.model_dump(mode="json", by_alias=True, exclude_none=True))
    (tmp_path / "board.json").write_text(as_json)
    (tmp_path / "board.yaml").write_text(BASE)
    assert load_storyboard(as_json) == sb == load_storyboard(tmp_path / "board.json")
    assert load_storyboard(str(tmp_path / "board.yaml")) == sb


def test_the_schema_describes_the_starts() -> None:
    schema = storyboard_json_schema()
    start = schema["$defs"]["Start"]["properties"]
    assert set(start) == {"image", "continue", "remix", "extend"}
    assert schema["$defs"]["Shot"]["additionalProperties"] is False


def test_prices_order_and_film() -> None:
    p = plan(BASE)
    shots = {s.id: s for s in p.shots}
    assert shots["s4"].seconds == 4 and shots["s4"].cost_usd == pytest.approx(0.40)  # remix: the source's length
    assert shots["s5"].seconds == 12 and shots["s5"].cost_usd == pytest.approx(0.80)  # extend: the added 8 s
    assert p.total_usd == pytest.approx(0.4 * 4 + 0.8)
    assert p.order.index("s1") < p.order.index("s2") and p.order.index("s4") < p.order.index("s5")
    assert [s.id for s in p.film_shots] == ["s1", "s2", "s3", "s5"]  # s4 is inside its extension
    assert p.dependents("s3") == ["s4", "s5"]


def test_an_owner_keeps_every_key_apart_and_no_owner_shares_them() -> None:
    sb = load_storyboard(BASE)
    shared = plan_storyboard(sb, COMETAPI)
    assert [s.key for s in plan_storyboard(sb, COMETAPI, owner=None).shots] == [s.key for s in shared.shots]
    alice, bob = (plan_storyboard(sb, COMETAPI, owner=name) for name in ("alice", "bob"))
    keys = [{s.key for s in p.shots} for p in (shared, alice, bob)]
    assert all(len(k) == len(sb.shots) for k in keys)
    assert keys[0].isdisjoint(keys[1]) and keys[0].isdisjoint(keys[2]) and keys[1].isdisjoint(keys[2])
    assert len({shared.id, alice.id, bob.id}) == 3 and alice.total_usd == shared.total_usd


def test_budget_is_checked_before_anything() -> None:
    p = plan(BASE)
    p.check_budget(p.total_usd)
    p.check_budget(None)
    with pytest.raises(InvalidInputError) as caught:
        p.check_budget(1.0)
    assert "$2.40" in str(caught.value) and "$1.00" in str(caught.value) and '"s5"' in str(caught.value)


def _keys(text: str) -> dict[str, str]:
    return {s.id: s.key for s in plan(text).shots}


@settings(max_examples=50)
@given(shot=st.sampled_from(["s1", "s2", "s3", "s4", "s5"]), words=st.text(min_size=1, max_size=40).filter(str.strip))
def test_an_edit_changes_the_keys_of_the_shot_and_its_dependents_only(shot: str, words: str) -> None:
    sb = load_storyboard(BASE)
    edited = sb.model_copy(deep=True)
    target = edited.shot(shot)
    target.prompt = target.prompt + " " + words
    before = {s.id: s.key for s in plan_storyboard(sb, COMETAPI).shots}
    after_plan = plan_storyboard(edited, COMETAPI)
    after = {s.id: s.key for s in after_plan.shots}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {shot, *after_plan.dependents(shot)}


def test_keys_ignore_ids_and_order_but_not_the_service_or_image(tmp_path: Path) -> None:
    renamed = BASE.replace("s1", "first").replace("s3", "third")
    assert set(_keys(BASE).values()) == set(_keys(renamed).values())
    a = plan_storyboard(load_storyboard(BASE), COMETAPI)
    b = plan_storyboard(load_storyboard(BASE), COMETAPI, base_url="https://other.example/v1")
    assert not {s.key for s in a.shots} & {s.key for s in b.shots}
    for colour in ((1, 2, 3), (3, 2, 1)):
        buf = io.BytesIO()
        Image.new("RGB", (1280, 720), colour).save(buf, format="PNG")
        (tmp_path / f"{colour[0]}.png").write_bytes(buf.getvalue())
    with_image = "shots: [{id: s1, prompt: a, start: {image: IMG}}]"
    k1 = plan(with_image.replace("IMG", "1.png"), base_dir=tmp_path).shots[0].key
    k3 = plan(with_image.replace("IMG", "3.png"), base_dir=tmp_path).shots[0].key
    assert k1 != k3 and plan(with_image.replace("IMG", "1.png"), base_dir=tmp_path).shots[0].key == k1


def test_models_are_strict() -> None:
    with pytest.raises(ValueError):
        Start.model_validate({})
    assert Storyboard.model_config["extra"] == "forbid"


def test_an_image_given_by_shot_id_replaces_the_file_and_keys_by_its_bytes(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (640, 360), (10, 200, 30)).save(buf, format="PNG")
    sb = load_storyboard(BASE)
    given = plan_storyboard(sb, COMETAPI, images={"s1": buf.getvalue()})
    s1 = given.shot("s1")
    assert s1.image is not None and s1.image_path is None and s1.key != plan(BASE).shot("s1").key
    assert given.shot("s2").key != plan(BASE).shot("s2").key  # made from s1's last frame
    with pytest.raises(InvalidInputError, match='shot "s2", field "start.continue"'):
        plan_storyboard(sb, COMETAPI, images={"s2": buf.getvalue()})
    with pytest.raises(InvalidInputError, match="no such shot"):
        plan_storyboard(sb, COMETAPI, images={"s9": buf.getvalue()})


def test_a_film_placed_elsewhere_takes_its_contact_sheet_along(tmp_path: Path) -> None:
    """-o moves the film; the contact sheet follows it instead of overwriting a picture beside the storyboard."""
    board = load_storyboard("shots: [{id: a, prompt: A kite}]\noutput: {film: kite.mp4, contact_sheet: kite.png}")
    kept = plan_storyboard(board, LOCAL, base_dir=tmp_path / "boards")
    assert kept.contact_sheet == (tmp_path / "boards" / "kite.png").absolute()
    moved = plan_storyboard(board, LOCAL, base_dir=tmp_path / "boards", film=tmp_path / "out" / "flight.mp4")
    assert moved.film == (tmp_path / "out" / "flight.mp4").absolute()
    assert moved.contact_sheet == (tmp_path / "out" / "flight.png").absolute()


def test_a_guessed_price_is_a_warning_of_the_plan() -> None:
    board = load_storyboard("shots: [{id: a, prompt: A kite}, {id: b, prompt: A kite again, model: sora-2-next}]")
    plan = plan_storyboard(board, COMETAPI)
    assert plan.warnings == ['shot "b": unknown model: priced at the highest rate']
