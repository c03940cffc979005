"""Provider/key resolution: arguments > environment > user config file; the key never shows anywhere."""

import logging

import pytest

from sora2_bridge.shared import AsyncSoraClient, ConfigurationError, resolve_config

KEY = "sk-fake-secret-0123456789abcdef"


def test_missing_key_names_the_variable():
    with pytest.raises(ConfigurationError) as exc:
        resolve_config(env={})
    assert "SORA2_API_KEY" in str(exc.value) and "COMETAPI_KEY" in str(exc.value)
    assert exc.value.exit_code == 2


def test_openai_provider_falls_back_to_openai_key():
    cfg = resolve_config(env={"SORA2_PROVIDER": "openai", "OPENAI_API_KEY": KEY})
    assert cfg.provider == "openai"
    assert cfg.base_url == "https://api.openai.com/v1"
    assert cfg.api_key.get_secret_value() == KEY


def test_cometapi_is_default_and_generic_key_wins():
    cfg = resolve_config(env={"COMETAPI_KEY": "comet", "SORA2_API_KEY": "generic"})
    assert cfg.provider == "cometapi" and cfg.base_url == "https://api.cometapi.com/v1"
    assert cfg.api_key.get_secret_value() == "generic"


def test_arguments_beat_environment():
    cfg = resolve_config("custom", "https://relay.example/v1/", "argkey", env={"SORA2_BASE_URL": "https://x/v1"})
    assert cfg.base_url == "https://relay.example/v1"
    assert cfg.api_key.get_secret_value() == "argkey"


def test_custom_provider_needs_base_url():
    with pytest.raises(ConfigurationError, match="SORA2_BASE_URL"):
        resolve_config("custom", env={"SORA2_API_KEY": KEY})


def test_unknown_provider_lists_choices():
    with pytest.raises(ConfigurationError, match="cometapi, openai, custom, local"):
        resolve_config("nope", env={})


def test_local_simulator_needs_no_key():
    cfg = resolve_config("local", env={})
    assert cfg.base_url.startswith("http://127.0.0.1")


def test_key_from_user_config_file(tmp_path):
    conf = tmp_path / "config.toml"
    conf.write_text('provider = "openai"\n[keys]\nopenai = "from-file"\n')
    cfg = resolve_config(env={"SORA2_CONFIG": str(conf)})
    assert cfg.provider == "openai" and cfg.api_key.get_secret_value() == "from-file"


async def test_key_never_in_repr_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    cfg = resolve_config("openai", api_key=KEY, env={})
    async with AsyncSoraClient(cfg, record=False) as client:
        texts = [repr(cfg), str(cfg), repr(client), str(cfg.model_dump())]
    logging.getLogger("sora2_bridge").info("config %s", cfg)
    assert all(KEY not in t for t in texts + [caplog.text])


def test_sora2_config_naming_a_folder_is_named_as_the_problem(tmp_path):
    with pytest.raises(ConfigurationError, match="SORA2_CONFIG points to a folder"):
        resolve_config(env={"SORA2_CONFIG": str(tmp_path)})


def test_sora2_config_naming_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigurationError, match="SORA2_CONFIG names .*missing.toml, which does not exist"):
        resolve_config(env={"SORA2_CONFIG": str(tmp_path / "missing.toml")})


def test_the_default_config_file_may_be_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty-config-home"))
    with pytest.raises(ConfigurationError, match="No API key"):  # the usual message, not a file problem
        resolve_config(env={})


def test_a_malformed_config_is_an_error_when_needed_and_no_obstacle_to_the_simulator(tmp_path):
    conf = tmp_path / "config.toml"
    conf.write_text("provider = [unclosed\n")
    env = {"SORA2_CONFIG": str(conf)}
    with pytest.raises(ConfigurationError, match="Cannot read the config file"):
        resolve_config(env=env)
    cfg = resolve_config("local", "http://127.0.0.1:9/v1", env=env)  # what --simulate resolves
    assert cfg.provider == "local"
    for broken in (tmp_path, tmp_path / "missing.toml"):  # a folder, or a missing file, neither
        assert resolve_config("local", "http://127.0.0.1:9/v1", env={"SORA2_CONFIG": str(broken)})


def test_cli_simulate_runs_with_a_malformed_config(tmp_path, monkeypatch, capsys):
    from sora2_bridge.cli import main

    conf = tmp_path / "config.toml"
    conf.write_text("this is not toml ===\n")
    monkeypatch.setenv("SORA2_CONFIG", str(conf))
    assert main(["--simulate", "--json", "list"]) == 0, capsys.readouterr().err
    assert main(["list"]) == 2 and "Cannot read the config file" in capsys.readouterr().err
