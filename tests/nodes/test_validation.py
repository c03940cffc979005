"""Queue-time validation: one message per problem, against the chosen provider's own table."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sora2_bridge.nodes.generate import MODELS, SECONDS, SIZES, Sora2Extend, Sora2Video
from sora2_bridge.shared.errors import InvalidInputError
from sora2_bridge.shared.models import validate_seconds, validate_size
from sora2_bridge.shared.providers import PROVIDERS, get_provider


def shared_verdicts(provider: str, model: str, size: str, seconds: int) -> list[str]:
    """What the shared validators say about one combination (the one place that decides)."""
    spec = get_provider(provider)
    out = []
    for check in (lambda: validate_size(spec, model, size), lambda: validate_seconds(spec, model, seconds)):
        try:
            check()
        except InvalidInputError as exc:
            out.append(str(exc))
    return out


@pytest.mark.parametrize("inputs", [
    {"seconds": 5},                                    # a value from an older saved workflow
    {"model": "sora-2", "size": "1792x1024"},           # a size only the pro models offer
    {"model": "sora-3"},                                # a model no table knows
    {"size": "640x480"},
])
def test_one_bad_value_is_one_message(comfy, inputs):
    errors = comfy.errors(Sora2Video, **inputs)
    assert len(errors) == 1, errors
    bad = next(v for k, v in inputs.items() if k != "model" or len(inputs) == 1)
    assert str(bad) in errors[0]


def test_two_bad_values_are_each_said_once(comfy):
    errors = comfy.errors(Sora2Video, model="sora-2", size="1792x1024", seconds=5)
    assert len(errors) == 1, errors
    assert errors[0].count("size='1792x1024'") == 1 and errors[0].count("seconds=5") == 1, errors


def test_extend_seconds_is_one_message(comfy):
    errors = comfy.errors(Sora2Extend, video_id="video_x", prompt="more", seconds=7)
    assert len(errors) == 1 and "7" in errors[0], errors


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_every_combination_gets_exactly_the_shared_verdicts_once(comfy, monkeypatch, provider):
    if provider == "custom":
        monkeypatch.setenv("SORA2_BASE_URL", "http://127.0.0.1:9/v1")
    for model in MODELS:
        for size in SIZES:
            for seconds in SECONDS:
                errors = comfy.errors(Sora2Video, model=model, size=size, seconds=seconds, provider=provider)
                verdicts = shared_verdicts(provider, model, size, seconds)
                assert len(errors) == (1 if verdicts else 0), (model, size, seconds, errors)
                assert all(v in errors[0] for v in verdicts)


@pytest.fixture
def openai_classic(monkeypatch):
    """The provider offers only 4/8/12 s (the published spec), whatever the shipped table says today."""
    openai = PROVIDERS["openai"]
    models = {name: dataclasses.replace(spec, seconds=("4", "8", "12")) for name, spec in openai.models.items()}
    monkeypatch.setitem(PROVIDERS, "openai", dataclasses.replace(openai, models=models))


@pytest.mark.parametrize("chosen_by", ["widget", "environment", "config file"])
def test_seconds_the_chosen_provider_does_not_offer_are_refused(comfy, openai_classic, monkeypatch, chosen_by,
                                                               tmp_path):
    inputs = {"model": "sora-2", "size": "1280x720", "seconds": 16}
    if chosen_by == "widget":
        inputs["provider"] = "openai"
    elif chosen_by == "environment":
        monkeypatch.setenv("SORA2_PROVIDER", "openai")
    else:
        config = tmp_path / "config.toml"
        config.write_text('provider = "openai"\n')
        monkeypatch.setenv("SORA2_CONFIG", str(config))
    errors = comfy.errors(Sora2Video, **inputs)
    assert len(errors) == 1 and "seconds=16" in errors[0] and "openai" in errors[0], errors
    errors = comfy.errors(Sora2Extend, video_id="video_x", prompt="more", seconds=20,
                          **({"provider": "openai"} if chosen_by == "widget" else {}))
    assert len(errors) == 1 and "seconds=20" in errors[0] and "openai" in errors[0], errors
    assert comfy.errors(Sora2Video, **{**inputs, "seconds": 12}) == []


def test_linked_inputs_are_checked_when_the_graph_runs(comfy):
    assert comfy.errors(Sora2Video, model="sora-2", size=["7", 0], seconds=["8", 0]) == []


async def test_loading_the_pack_installs_the_prompt_hook_once(comfy):
    from sora2_bridge.nodes import comfy_entrypoint, validation

    comfy.server.on_prompt_handlers.clear()
    await comfy_entrypoint()
    await comfy_entrypoint()
    assert comfy.server.on_prompt_handlers == [validation.remember_prompt]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)


@settings(max_examples=100, deadline=None)
@given(body=JSON, node_id=st.text(max_size=4))
def test_the_prompt_hook_never_changes_or_breaks_a_queued_prompt(body, node_id):
    """Whatever arrives at POST /prompt, the hook hands it on untouched; widget values never include a link."""
    from sora2_bridge.nodes.validation import remember_prompt, widget_values

    assert remember_prompt(body) is body
    assert not any(isinstance(v, list) for v in widget_values(node_id).values())


@settings(max_examples=100, deadline=None)
@given(model=JSON, size=JSON, seconds=JSON, provider=JSON)
def test_any_saved_values_get_an_answer_not_a_crash(model, size, seconds, provider):
    from sora2_bridge.nodes.generate import check_settings

    verdict = check_settings(model, size, seconds, provider)
    assert verdict is True or (isinstance(verdict, str) and verdict)


def test_choices_include_the_models_the_config_file_adds(monkeypatch, tmp_path):
    """A model (or length) a provider added and the user described in the config file is offered in the dropdown;
    a broken config file leaves the built-in choices (the run then says what is wrong with it)."""
    from sora2_bridge.nodes.generate import _union

    config = tmp_path / "config.toml"
    config.write_text('[providers.cometapi.models."sora-3"]\nprice_per_second = 0.2\nsizes = ["1920x1080"]\n'
                      'seconds = [4, 24]\n')
    monkeypatch.setenv("SORA2_CONFIG", str(config))
    assert _union("name") == [*MODELS, "sora-3"]
    assert "24" in _union("seconds") and "1920x1080" in _union("sizes")
    config.write_text("not toml ===")
    assert _union("name") == MODELS == list(dict.fromkeys(m for p in PROVIDERS.values() for m in p.models))
