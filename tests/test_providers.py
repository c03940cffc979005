"""Provider tables as data: what each provider documents, the simulator's superset, the user's config-file
extensions (and their refusals), and the note on a guessed price in every estimate the CLI prints."""

from __future__ import annotations

import io
import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from sora2_bridge import cli
from sora2_bridge.shared.config import provider_table, provider_tables, resolve_config
from sora2_bridge.shared.errors import ConfigurationError, InvalidInputError
from sora2_bridge.shared.models import validate_seconds, validate_size
from sora2_bridge.shared.pricing import UNKNOWN_MODEL_NOTE, describe_estimate, estimate_cost, price_note
from sora2_bridge.shared.providers import (
    PROVIDERS,
    SECONDS_CLASSIC,
    SIZES_1080P,
    SIZES_720P,
    SIZES_TALL_WIDE,
)

KEY = "sk-fake-provider-tables-0123"
EXTENDABLE = [name for name, p in PROVIDERS.items() if p.needs_key]  # every provider but the simulator


def offers(provider: str, model: str, size: str | None = None, seconds: str | None = None) -> bool:
    spec = PROVIDERS[provider]
    try:
        if size is not None:
            validate_size(spec, model, size)
        if seconds is not None:
            validate_seconds(spec, model, seconds)
    except InvalidInputError:
        return False
    return True


# ---------------------------------------------------------------------------------------------- documented offers
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_every_provider_offers_the_published_spec(provider):
    """4/8/12 s for every model, 720p for sora-2, the four sizes for the pro model (openapi.yaml, the cookbook)."""
    for model in PROVIDERS[provider].models:
        assert all(offers(provider, model, seconds=s) for s in SECONDS_CLASSIC), model
    assert all(offers(provider, "sora-2", size=s) for s in SIZES_720P)
    assert all(offers(provider, "sora-2-pro", size=s) for s in SIZES_720P + SIZES_TALL_WIDE)
    assert not any(offers(provider, "sora-2", size=s) for s in SIZES_TALL_WIDE + SIZES_1080P)


@pytest.mark.parametrize("provider,model,documented", [
    ("openai", "sora-2", True), ("openai", "sora-2-pro", True),           # OpenAI's March 2026 guide
    ("cometapi", "sora-2", True), ("cometapi", "sora-2-pro", True),       # CometAPI's create reference
    ("cometapi", "sora-2-hd", False),                                     # no page gives it 16/20 s
    ("custom", "sora-2", False), ("custom", "sora-2-pro", False), ("custom", "sora-2-hd", False),
])
def test_16_and_20_seconds_only_where_documented(provider, model, documented):
    assert [offers(provider, model, seconds=s) for s in ("16", "20")] == [documented] * 2


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_1080p_only_for_openais_pro_model_and_the_simulator(provider):
    for model in PROVIDERS[provider].models:
        expected = model == "sora-2-pro" and provider in ("openai", "local")
        assert [offers(provider, model, size=s) for s in SIZES_1080P] == [expected] * 2, model


def test_cometapi_seed_prices():
    comet = PROVIDERS["cometapi"]
    assert {s: comet.model("sora-2").price_for(s) for s in SIZES_720P} == dict.fromkeys(SIZES_720P, 0.10)
    assert estimate_cost(comet, "sora-2", "720x1280", 4) == pytest.approx(0.40)
    assert estimate_cost(comet, "sora-2-hd", "1280x720", 12) == pytest.approx(1.92)


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_every_entry_names_its_source(provider):
    assert all(spec.source.strip() for spec in PROVIDERS[provider].models.values())


def test_the_simulator_offers_whatever_some_provider_documents():
    """So tests can exercise every length and size for free."""
    for name, provider in PROVIDERS.items():
        for model, spec in provider.models.items():
            for size in spec.sizes:
                for seconds in spec.seconds:
                    assert offers("local", model, size, seconds), (name, model, size, seconds)
    assert PROVIDERS["local"].all_seconds == ("4", "8", "12", "16", "20")


# ---------------------------------------------------------------------------------------------- config file
def write_config(tmp_path, text: str) -> dict[str, str]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return {"SORA2_CONFIG": str(path)}


def table_with(provider: str, env: dict[str, str]):
    cfg = resolve_config(provider, "https://sora.test/v1", KEY, env=env)
    assert cfg.provider_spec.models == provider_table(provider, env=env).models == provider_tables(env)[provider].models
    return cfg.provider_spec


@pytest.mark.parametrize("provider", EXTENDABLE)
def test_config_adds_a_model(tmp_path, provider):
    env = write_config(tmp_path, f'[providers.{provider}.models."sora-3"]\nprice_per_second = 0.25\n'
                                 'sizes = ["1920x1080"]\nseconds = [4, 10]\n')
    table = table_with(provider, env)
    assert validate_seconds(table, "sora-3", 10) == "10" and validate_size(table, "sora-3", "1920x1080")
    assert estimate_cost(table, "sora-3", "1920x1080", 10) == pytest.approx(2.5)
    assert price_note(table, "sora-3", "1920x1080") is None
    assert "your config file" in table.model("sora-3").source
    assert table.model("sora-2") == PROVIDERS[provider].model("sora-2")  # the rest of the table stays


@pytest.mark.parametrize("provider", EXTENDABLE)
def test_config_adds_a_length_to_a_model(tmp_path, provider):
    with pytest.raises(InvalidInputError, match="seconds=24"):
        validate_seconds(table_with(provider, {}), "sora-2", 24)
    env = write_config(tmp_path, f'[providers.{provider}.models."sora-2"]\nseconds = [4, 8, 12, 16, 20, 24]\n')
    table = table_with(provider, env)
    assert validate_seconds(table, "sora-2", 24) == "24"
    assert table.model("sora-2").price_per_second == PROVIDERS[provider].model("sora-2").price_per_second


@pytest.mark.parametrize("provider", EXTENDABLE)
def test_config_changes_a_price(tmp_path, provider):
    env = write_config(tmp_path, f'[providers.{provider}.models."sora-2-pro"]\n'
                                 'price_per_second = {"1280x720" = 0.35, "720x1280" = 0.35}\n')
    table = table_with(provider, env)
    assert estimate_cost(table, "sora-2-pro", "1280x720", 4) == pytest.approx(1.40)
    assert table.model("sora-2-pro").sizes == PROVIDERS[provider].model("sora-2-pro").sizes


def test_config_entry_for_a_dated_alias_wins_over_the_alias(tmp_path):
    env = write_config(tmp_path, '[providers.openai.models."sora-2-2025-12-08"]\nprice_per_second = 0.12\n')
    table = table_with("openai", env)
    assert estimate_cost(table, "sora-2-2025-12-08", "1280x720", 4) == pytest.approx(0.48)
    assert estimate_cost(table, "sora-2-2025-10-06", "1280x720", 4) == pytest.approx(0.40)


def test_the_simulators_table_is_not_read_from_the_config_file(tmp_path):
    """Its table ships with it, and it must start with a broken file."""
    env = write_config(tmp_path, '[providers.local.models."sora-3"]\nprice_per_second = 0.25\n')
    assert resolve_config("local", env=env).provider_spec.model("sora-3") is None
    assert provider_table("local", env=write_config(tmp_path, "not toml ===")) is PROVIDERS["local"]


@pytest.mark.parametrize("entry,problem", [
    ('sizes = "1280x720"', "sizes must be a non-empty list"),
    ('sizes = ["720p"]', "WIDTHxHEIGHT"),
    ("sizes = []", "sizes must be a non-empty list"),
    ("seconds = [4.5]", "whole numbers of seconds"),
    ("seconds = [0]", "whole numbers of seconds"),
    ("seconds = [true]", "whole numbers of seconds"),
    ("seconds = 8", "seconds must be a non-empty list"),
    ('price_per_second = "cheap"', "USD per second"),
    ("price_per_second = -0.1", "USD per second"),
    ("price_per_second = nan", "USD per second"),
    ("price_per_second = true", "USD per second"),
    ('price_per_second = {"1792x1024" = 0.5}', "1792x1024, which is not in sizes"),
    ("price = 0.1", "unknown key price"),
])
@pytest.mark.parametrize("provider", EXTENDABLE)
def test_a_malformed_entry_is_refused_naming_it(tmp_path, provider, entry, problem):
    env = write_config(tmp_path, f'[providers.{provider}.models."sora-2"]\n{entry}\n')
    with pytest.raises(ConfigurationError) as exc:
        resolve_config(provider, "https://sora.test/v1", KEY, env=env)
    assert f"[providers.{provider}.models.sora-2]" in str(exc.value) and problem in str(exc.value)


def test_a_new_model_without_a_price_or_as_a_plain_value_is_refused(tmp_path):
    for text, problem in [('[providers.cometapi.models."sora-3"]\nseconds = [4]\n', "price_per_second is missing"),
                          ('[providers.cometapi.models]\n"sora-3" = 0.2\n', "must be a table")]:
        with pytest.raises(ConfigurationError, match=re.escape(problem)) as exc:
            provider_table("cometapi", env=write_config(tmp_path, text))
        assert "[providers.cometapi.models.sora-3]" in str(exc.value)


# ---------------------------------------------------------------------------------------------- guessed prices
model_names = st.text(min_size=1, max_size=30).filter(lambda m: all(m not in p.models for p in PROVIDERS.values()))


@settings(max_examples=60, deadline=None)
@given(provider=st.sampled_from(list(PROVIDERS)), model=model_names, seconds=st.sampled_from(["4", "8", "20"]))
def test_an_unknown_model_is_priced_at_the_highest_rate_and_says_so(provider, model, seconds):
    spec = PROVIDERS[provider]
    if spec.model(model) is not None:  # a dated alias
        return
    usd = estimate_cost(spec, model, "1280x720", seconds)
    assert math.isclose(usd, spec.fallback_price_per_second * int(seconds))
    assert price_note(spec, model, "1280x720") == UNKNOWN_MODEL_NOTE
    assert describe_estimate(spec, model, "1280x720", usd).endswith(f"({UNKNOWN_MODEL_NOTE})")


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_listed_price_has_no_note(provider):
    for model, spec in PROVIDERS[provider].models.items():
        for size in spec.price_per_second:
            assert price_note(PROVIDERS[provider], model, size) is None
            assert describe_estimate(PROVIDERS[provider], model, size, 0.4) == "$0.40"


def test_an_unpublished_size_price_says_so():
    note = price_note(PROVIDERS["openai"], "sora-2-pro", "1920x1080")
    assert note and "1920x1080" in note and "highest rate" in note
    assert estimate_cost(PROVIDERS["openai"], "sora-2-pro", "1920x1080", 4) == pytest.approx(2.0)


def run_cli(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    saved = cli.out, cli.err
    cli.out = Console(file=stdout, width=100_000, soft_wrap=True)
    cli.err = Console(file=stderr, width=100_000, soft_wrap=True)
    try:
        return cli.main(list(argv)), stdout.getvalue(), stderr.getvalue()
    finally:
        cli.out, cli.err = saved


@pytest.fixture
def no_config(tmp_path, monkeypatch):
    monkeypatch.setenv("SORA2_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    monkeypatch.setenv("SORA2_DATA_DIR", str(tmp_path / "data"))
    for var in ("SORA2_PROVIDER", "SORA2_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "none.toml"


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_cli_cost_says_when_the_model_is_unknown(no_config, provider):
    rc, stdout, stderr = run_cli("cost", "--provider", provider, "--model", "sora-9", "--seconds", "4")
    assert rc == 0 and UNKNOWN_MODEL_NOTE in stdout, stderr
    rc, stdout, _ = run_cli("--json", "cost", "--provider", provider, "--model", "sora-9", "--seconds", "4")
    assert json.loads(stdout)["price_note"] == UNKNOWN_MODEL_NOTE
    rc, stdout, _ = run_cli("cost", "--provider", provider, "--model", "sora-2", "--size", "1280x720")
    assert rc == 0 and "highest rate" not in stdout and stdout.startswith("$0.40 for 4s")


def test_cli_cost_reads_the_models_the_config_file_adds(no_config):
    no_config.write_text('[providers.cometapi.models."sora-9"]\nprice_per_second = 0.2\nsizes = ["1280x720"]\n')
    rc, stdout, stderr = run_cli("--json", "cost", "--model", "sora-9", "--size", "1280x720", "--seconds", "8")
    assert rc == 0, stderr
    assert (json.loads(stdout)["usd"], json.loads(stdout)["price_note"]) == (pytest.approx(1.6), None)


def test_cli_generate_estimate_line_says_when_the_model_is_unknown(no_config):
    rc, _, stderr = run_cli("--simulate", "generate", "a fox", "--model", "sora-9", "--no-wait")
    assert rc == 0, stderr
    assert re.search(rf"Estimated cost: \$\S+ \({re.escape(UNKNOWN_MODEL_NOTE)}\) \(simulated: free\)", stderr)
    rc, _, stderr = run_cli("--simulate", "generate", "a fox", "--no-wait")
    assert rc == 0 and "Estimated cost: $0.40 (simulated: free)" in stderr, stderr
