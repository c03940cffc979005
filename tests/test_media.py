"""Fitting any image to the requested size, because the service rejects a mismatched reference."""

import io

import pytest
from PIL import Image

from sora2_bridge.shared import ImageInput, InvalidInputError, fit_image, load_image_file


def img_bytes(w, h, fmt="PNG", color=(255, 0, 0)):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["crop", "pad", "stretch"])
def test_fit_gives_exact_size(mode):
    out = fit_image(img_bytes(640, 480), "720x1280", mode)
    with Image.open(io.BytesIO(out.data)) as im:
        assert im.size == (720, 1280)
    assert out.mime_type == "image/png"


def test_pad_letterboxes_and_crop_covers():
    padded = Image.open(io.BytesIO(fit_image(img_bytes(640, 480), "720x1280", "pad").data)).convert("RGB")
    assert padded.getpixel((360, 5)) == (0, 0, 0)  # bar above the picture
    assert padded.getpixel((360, 640))[0] > 240  # picture in the middle
    cropped = Image.open(io.BytesIO(fit_image(img_bytes(640, 480), "720x1280", "crop").data)).convert("RGB")
    assert cropped.getpixel((360, 5))[0] > 240 and cropped.getpixel((2, 640))[0] > 240


def test_matching_image_is_not_reencoded():
    src = ImageInput(data=img_bytes(1280, 720, "JPEG"), mime_type="image/jpeg")
    assert fit_image(src, "1280x720") is src


def test_load_image_file_checks_content(tmp_path):
    p = tmp_path / "fake.png"
    p.write_bytes(b"hello")
    with pytest.raises(InvalidInputError, match="not a readable image"):
        load_image_file(p)
    with pytest.raises(InvalidInputError, match="not found"):
        load_image_file(tmp_path / "missing.png")
    good = tmp_path / "a.webp"
    good.write_bytes(img_bytes(10, 10, "WEBP"))
    assert load_image_file(good).mime_type == "image/webp"


def test_bad_fit_mode():
    with pytest.raises(InvalidInputError, match="crop, pad, stretch"):
        fit_image(img_bytes(10, 10), "720x1280", "zoom")
