"""Bad input, refused before anything is sent: each row is an input a user could give and the words of its error.

The same table is in docs/reliability.md. CLI rows run `sora2` in-process against a simulator that counts every
API call: the refusal must come with exit code 2 and without a single request reaching the service.
"""

from __future__ import annotations

import pytest

from sora2_bridge.cli import main

# (row id, argv after the provider options, words the error must contain)
CLI_ROWS = [
    ("empty prompt", ["generate", ""], "prompt is empty"),
    ("blank prompt", ["generate", "   \n\t"], "prompt is empty"),
    ("prompt over 32000 chars", ["generate", "x" * 32001], "at most 32000"),
    ("unknown size", ["generate", "ok", "--size", "1000x1000"], "choose one of 720x1280, 1280x720"),
    ("size not WxH", ["generate", "ok", "--size", "hd"], "choose one of"),
    ("pro size on sora-2", ["generate", "ok", "--size", "1792x1024"], "needs sora-2-hd or sora-2-pro"),
    ("1080p on sora-2-hd", ["generate", "ok", "--model", "sora-2-hd", "--size", "1920x1080"], "needs sora-2-pro"),
    ("seconds 10", ["generate", "ok", "--seconds", "10"], "choose one of 4, 8, 12, 16, 20"),
    ("seconds 0", ["generate", "ok", "--seconds", "0"], "seconds='0'"),
    ("seconds negative", ["generate", "ok", "--seconds", "-4"], "seconds='-4'"),
    ("seconds as words", ["generate", "ok", "--seconds", "four"], "seconds='four'"),
    ("image missing", ["generate", "ok", "--image", "/no/such/file.png"], "Image file not found"),
    ("image not an image", ["generate", "ok", "--image", "{text_file}"], "not a readable image"),
    ("image truncated", ["generate", "ok", "--image", "{broken_png}"], "not a readable image"),
    ("image is a folder", ["generate", "ok", "--image", "{tmp}"], "Image file not found"),
    ("fit mode unknown", ["generate", "ok", "--image", "{gif_file}", "--fit", "zoom"], "invalid choice: 'zoom'"),
    ("video id empty", ["status", ""], "video id is required"),
    ("video id with slash", ["status", "../../etc/passwd"], "not a valid video id"),
    ("video id with space", ["download", "video 1"], "not a valid video id"),
    ("video id with query", ["delete", "video_1?x=1"], "not a valid video id"),
    ("remix empty prompt", ["remix", "video_1", ""], "prompt is empty"),
    ("extend seconds 7", ["extend", "video_1", "more", "--seconds", "7"], "seconds='7'"),
    ("variant unknown", ["download", "video_1", "--variant", "gif"], "invalid choice: 'gif'"),
    ("list limit negative", ["list", "--limit", "-1"], "--limit: must be between 1 and 1000"),
]


@pytest.fixture
def files(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    gif = tmp_path / "anim.gif"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(gif, "GIF")
    png = tmp_path / "broken.png"
    Image.new("RGB", (640, 480), (9, 9, 9)).save(png, "PNG")
    png.write_bytes(png.read_bytes()[:200])
    return {"text_file": str(text), "gif_file": str(gif), "broken_png": str(png), "tmp": str(tmp_path)}


@pytest.mark.parametrize("argv,words", [r[1:] for r in CLI_ROWS], ids=[r[0] for r in CLI_ROWS])
def test_cli_refuses_before_any_request(argv, words, sim, files, capsys):
    argv = [a.format(**files) for a in argv]
    try:
        rc = main(["--provider", "local", "--base-url", sim.base_url, *argv])
    except SystemExit as exc:  # argparse's own refusals (unknown choices) also exit 2
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert words in err, err
    assert "Traceback" not in err
    assert sum(sim.state.stats()["requests"].values()) == 0


CONFIG_ROWS = [
    ("no key for cometapi", {}, ["generate", "ok"], "set the environment variable SORA2_API_KEY or COMETAPI_KEY"),
    ("no key for openai", {"SORA2_PROVIDER": "openai"}, ["status", "video_1"], "SORA2_API_KEY or OPENAI_API_KEY"),
    ("custom without base URL", {"SORA2_PROVIDER": "custom", "SORA2_API_KEY": "k"}, ["status", "video_1"],
     "needs a base URL: set SORA2_BASE_URL"),
    ("base URL not http", {"SORA2_API_KEY": "k", "SORA2_BASE_URL": "ftp://x/v1"}, ["status", "video_1"],
     "must start with http:// or https://"),
    ("unknown provider", {"SORA2_PROVIDER": "acme"}, ["status", "video_1"], "Unknown provider 'acme'"),
]


@pytest.mark.parametrize("env,argv,words", [r[1:] for r in CONFIG_ROWS], ids=[r[0] for r in CONFIG_ROWS])
def test_configuration_errors_name_what_to_set(env, argv, words, monkeypatch, capsys):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and words in err, err
