"""Bad input to the MCP tools, refused before any request reaches the service (the URL rows are in test_guard.py).

Each row: the tool, its arguments, and words the tool error must contain. The same rows are in
docs/reliability.md beside the CLI's (tests/test_bad_inputs.py).
"""

from __future__ import annotations

import pytest
from mcp import Client

ROWS = [
    ("empty prompt", "generate_video", {"prompt": ""}, "at least 1 character"),
    ("prompt over 32000 chars", "generate_video", {"prompt": "x" * 32001}, "accepts at most 32000. Shorten it"),
    ("unknown size", "generate_video", {"prompt": "ok", "size": "1000x1000"}, "Input should be '720x1280'"),
    ("seconds 10", "generate_video", {"prompt": "ok", "seconds": 10}, "Input should be 4, 8, 12, 16 or 20"),
    ("pro size on sora-2", "generate_video", {"prompt": "ok", "model": "sora-2", "size": "1792x1024"},
     "needs sora-2-hd or sora-2-pro"),
    ("over the per-call limit", "generate_video",
     {"prompt": "ok", "model": "sora-2-pro", "size": "1792x1024", "seconds": 12},
     "estimated at $6.00, above the per-call limit of $5.00"),
    ("wait longer than allowed", "generate_video", {"prompt": "ok", "wait_seconds": 10000}, "less than or equal to 600"),
    ("image outside the input folders", "generate_video", {"prompt": "ok", "image": "/etc/passwd"},
     "outside the allowed input folders"),
    ("image path escaping upwards", "generate_video", {"prompt": "ok", "image": "../../secret.png"},
     "Allowed input folders"),
    ("data URL that is not an image", "generate_video",
     {"prompt": "ok", "image": "data:text/plain;base64,aGVsbG8="}, "not a readable image"),
    ("data URL with broken base64", "generate_video", {"prompt": "ok", "image": "data:image/png;base64,!!!"},
     "not valid base64"),
    ("video id with a path", "get_status", {"video_id": "../etc"}, "not a valid video id"),
    ("empty video id", "get_status", {"video_id": ""}, "A video id is required"),
    ("video id with a percent escape", "get_status", {"video_id": "video_%2e%2e"}, "not a valid video id"),
    ("video id with a query", "download_video", {"video_id": "video_1?variant=x"}, "letters, digits, '_' and '-'"),
    ("video id with a control character", "delete_video", {"video_id": "video\x001"}, "not a valid video id"),
    ("video id with unicode letters", "remix_video", {"video_id": "vídeo_1", "prompt": "more"}, "not a valid video id"),
    ("video id too long", "get_status", {"video_id": "v" * 201}, "at most 200 characters"),
    ("duration instead of seconds", "generate_video", {"prompt": "ok", "duration": 12},
     "Unknown argument 'duration'. Did you mean 'seconds'?"),
    ("resolution instead of size", "generate_video", {"prompt": "ok", "resolution": "1280x720"},
     "Did you mean 'size'?"),
    ("image_url instead of image", "generate_video", {"prompt": "ok", "image_url": "https://example.com/a.png"},
     "Did you mean 'image'?"),
    ("misspelt prompt", "generate_video", {"promt": "ok"}, "Unknown argument 'promt'. Did you mean 'prompt'?"),
    ("id instead of video_id", "get_status", {"id": "video_1"}, "Did you mean 'video_id'?"),
    ("unknown argument to a free tool", "estimate_cost", {"length": 8}, "Did you mean 'seconds'?"),
    ("unknown argument with no likeness", "list_videos", {"colour": "red"},
     "Unknown argument 'colour'. This tool accepts: limit, cursor, status, since."),
    ("seconds as words", "generate_video", {"prompt": "ok", "seconds": "twelve"}, "Invalid seconds"),
    ("download file name with a folder", "download_video", {"video_id": "video_1", "filename": "../escape.mp4"},
     "plain file name without folders"),
    ("hidden file name", "download_video", {"video_id": "video_1", "filename": ".bashrc"}, "starts with a dot"),
    ("file name with a control character", "download_video", {"video_id": "video_1", "filename": "a\x1bb.mp4"},
     "control or invisible characters"),
    ("file name with a bidi override", "download_video", {"video_id": "video_1", "filename": "clip\u202e4pm.exe"},
     "control or invisible characters"),
    ("file name with a zero-width space", "download_video", {"video_id": "video_1", "filename": "a\u200bb"},
     "control or invisible characters"),
    ("file name with a backslash", "download_video", {"video_id": "video_1", "filename": "a\\b.mp4"},
     "folder separator"),
    ("file name too long", "download_video", {"video_id": "video_1", "filename": "a" * 150}, "longer than 120"),
    ("unknown variant", "download_video", {"video_id": "video_1", "variant": "gif"},
     "'video', 'thumbnail' or 'spritesheet'"),
    ("list limit over 100", "list_videos", {"limit": 500}, "less than or equal to 100"),
    ("extension seconds 7", "extend_video", {"video_id": "video_1", "prompt": "more", "seconds": 7},
     "Input should be 4, 8, 12, 16 or 20"),
    ("remix with an empty prompt", "remix_video", {"video_id": "video_1", "prompt": ""}, "at least 1 character"),
    ("price of a size the model lacks", "estimate_cost", {"model": "sora-2", "size": "1920x1080", "seconds": 4},
     "1920x1080 needs sora-2-pro"),
    ("edit with an empty prompt", "edit_video", {"video_id": "video_1", "prompt": ""}, "at least 1 character"),
    ("edit of a bad id", "edit_video", {"video_id": "../x", "prompt": "night"}, "not a valid video id"),
    ("join one clip", "join_videos", {"video_ids": ["video_1"]}, "at least 2 items"),
    ("join 21 clips", "join_videos", {"video_ids": [f"video_{i}" for i in range(21)]}, "at most 20 items"),
    ("join a bad id", "join_videos", {"video_ids": ["video_1", "../x"]}, "not a valid video id"),
    ("join into a folder", "join_videos", {"video_ids": ["video_1", "video_2"], "filename": "../x.mp4"},
     "plain file name without folders"),
    ("frame before the start", "get_frame", {"video_id": "video_1", "t": -1}, "greater than or equal to 0"),
    ("frame of a clip not saved here", "get_frame", {"video_id": "video_1"}, "call download_video first"),
    ("forget a job this machine never had", "forget_video", {"video_id": "video_1"}, "no job video_1"),
    ("list with a made-up cursor", "list_videos", {"cursor": "page2"}, "next_cursor of a previous list_videos"),
    ("list by an unknown status", "list_videos", {"status": "done"}, "Invalid status"),
    ("list since a non-date", "list_videos", {"since": "yesterday"}, "Invalid since"),
]


@pytest.mark.parametrize("tool,args,words", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
async def test_tool_refuses_before_any_request(tool, args, words, server, sim):
    async with Client(server) as c:
        result = await c.call_tool(tool, args)
    assert result.is_error
    message = result.content[0].text
    assert words in message, message
    assert "Traceback" not in message
    assert "pydantic" not in message and "https://" not in message, message  # sentences, not the library's report
    assert sim.state.stats()["requests"] == {}
