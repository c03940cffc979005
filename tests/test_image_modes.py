"""Every image a user can open reaches the service as the user sees it, and a tiny reference is warned about.

Each case builds a picture programmatically, saves it in the format that carries its mode, sends it through the
public paths (``load_image_file`` + ``fit_image``, and the bytes path ``fit_reference``), decodes what would be
sent and compares it with a reference computed here with numpy from the source values, by the rule the case
states: alpha composited onto black by ``c * a / 255``, CMYK by ``(255 - C)(255 - K) / 255``, 16-bit by
``v * 255 / 65535``, Lab by the CIE formulas. The picture has four quadrants of different colours, so a rotated or
mirrored result fails too.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sora2_bridge.shared.media import (
    MAX_SHARP_ENLARGEMENT,
    PAD_COLOUR,
    enlargement,
    enlargement_warning,
    fit_image,
    fit_reference,
    load_image_file,
)

W, H = 32, 24  # source size; the quadrants are 16x12


def quadrants(values: list) -> np.ndarray:
    """An HxW(xC) array whose four quadrants (top-left, top-right, bottom-left, bottom-right) hold ``values``."""
    tl, tr, bl, br = (np.asarray(v) for v in values)
    top = np.concatenate([np.broadcast_to(tl, (H // 2, W // 2, *tl.shape)),
                          np.broadcast_to(tr, (H // 2, W // 2, *tr.shape))], axis=1)
    bottom = np.concatenate([np.broadcast_to(bl, (H // 2, W // 2, *bl.shape)),
                             np.broadcast_to(br, (H // 2, W // 2, *br.shape))], axis=1)
    return np.ascontiguousarray(np.concatenate([top, bottom], axis=0))


def saved(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def grey_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(grey, dtype=np.float64)[..., None], 3, axis=-1)


def png_rgb16(pixels: np.ndarray) -> bytes:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one): signature, IHDR, one IDAT, IEND."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    h, w, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@dataclass
class Case:
    data: bytes
    suffix: str
    expected: np.ndarray  # float RGB, H x W x 3, as a viewer shows the picture
    tolerance: float = 1.5  # levels, per quadrant centre and per channel mean
    warning: str | None = None


RED, GREEN, BLUE, GREY = (220, 30, 40), (20, 200, 60), (30, 50, 210), (128, 128, 128)


def case_palette() -> Case:
    idx = quadrants([0, 1, 2, 3]).astype(np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette([*RED, *GREEN, *BLUE, *GREY])
    return Case(saved(im, "PNG"), ".png", quadrants([RED, GREEN, BLUE, GREY]).astype(float))


def case_palette_transparent() -> Case:
    idx = quadrants([0, 1, 2, 3]).astype(np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette([*RED, *GREEN, *BLUE, *GREY])
    alpha = [0, 128, 255, 64]  # per-index alpha (PNG tRNS): see-through, half, opaque, a quarter
    data = saved(im, "PNG", transparency=bytes(alpha))
    colours = [RED, GREEN, BLUE, GREY]
    return Case(data, ".png", quadrants([[c * a / 255 for c in col] for col, a in zip(colours, alpha)]))


def case_grey() -> Case:
    g = quadrants([10, 90, 170, 250]).astype(np.uint8)
    return Case(saved(Image.fromarray(g, "L"), "PNG"), ".png", grey_rgb(g))


def case_grey_alpha() -> Case:
    g, a = quadrants([200, 200, 100, 250]), quadrants([255, 0, 128, 30])
    im = Image.fromarray(np.stack([g, a], axis=-1).astype(np.uint8), "LA")
    return Case(saved(im, "PNG"), ".png", grey_rgb(g * a / 255.0))


def rgba_case(fmt: str, suffix: str, **params) -> Callable[[], Case]:
    def make() -> Case:
        rgb = quadrants([RED, GREEN, BLUE, (250, 250, 250)]).astype(float)
        a = quadrants([255, 0, 128, 64]).astype(float)
        im = Image.fromarray(np.concatenate([rgb, a[..., None]], axis=-1).astype(np.uint8), "RGBA")
        return Case(saved(im, fmt, **params), suffix, rgb * a[..., None] / 255.0)
    return make


def case_rgb_colour_key() -> Case:
    rgb = quadrants([RED, GREEN, BLUE, GREY]).astype(np.uint8)
    expected = rgb.astype(float)
    expected[: H // 2, W // 2:] = 0  # the keyed colour (GREEN) is see-through: black, as the user sees it
    return Case(saved(Image.fromarray(rgb, "RGB"), "PNG", transparency=GREEN), ".png", expected)


def case_cmyk() -> Case:
    cmyk = quadrants([(0, 200, 180, 30), (220, 0, 200, 20), (200, 150, 0, 10), (0, 0, 0, 128)]).astype(float)
    data = saved(Image.fromarray(cmyk.astype(np.uint8), "CMYK"), "JPEG", quality=98)
    assert b"Adobe" in data[:512]  # stored with Adobe's inverted CMYK convention, which the decoder must undo
    c, k = cmyk[..., :3], cmyk[..., 3:]
    return Case(data, ".jpg", (255 - c) * (255 - k) / 255.0, tolerance=3.0)


def case_16bit(mode: str, fmt: str, suffix: str) -> Callable[[], Case]:
    def make() -> Case:
        v = quadrants([0, 20000, 45000, 65535]).astype(np.uint16)
        dtype = ">u2" if mode.endswith("B") else "<u2"
        im = Image.frombytes(mode, (W, H), v.astype(dtype).tobytes())
        return Case(saved(im, fmt), suffix, grey_rgb(v * 255.0 / 65535.0))
    return make


def case_rgb16() -> Case:
    v = quadrants([(65535, 0, 30000), (1000, 50000, 2000), (0, 0, 65535), (40000, 40000, 40000)]).astype(np.uint16)
    return Case(png_rgb16(v), ".png", v * 255.0 / 65535.0)


def case_int32(values: list[int], warning: str | None) -> Callable[[], Case]:
    def make() -> Case:
        v = quadrants(values).astype(np.int32)
        lo, hi = (0, 65535) if warning is None else (min(values), max(values))
        return Case(saved(Image.fromarray(v, "I"), "TIFF"), ".tif", grey_rgb((v - lo) * 255.0 / (hi - lo)),
                    warning=warning)
    return make


def case_float(values: list[float], scale: Callable[[np.ndarray], np.ndarray], warning: str | None = None):
    def make() -> Case:
        v = quadrants(values).astype(np.float32)
        return Case(saved(Image.fromarray(v, "F"), "TIFF"), ".tif", grey_rgb(scale(v.astype(np.float64))),
                    warning=warning)
    return make


def case_bilevel() -> Case:
    bits = quadrants([1, 0, 0, 1]).astype(bool)
    return Case(saved(Image.fromarray(bits).convert("1"), "PNG"), ".png", grey_rgb(bits * 255.0))


def case_lab() -> Case:
    """Neutral greys (a = b = 0) in CIE Lab; sRGB by L* -> Y = ((L* + 16) / 116)^3 and the sRGB transfer curve."""
    lightness = quadrants([20.0, 50.0, 75.0, 95.0])
    # A CIELab TIFF stores a* and b* signed (0 is neutral); Pillow writes its buffer's bytes as they are.
    lab = np.stack([np.rint(lightness * 255 / 100), np.zeros_like(lightness), np.zeros_like(lightness)], -1)
    y = ((lab[..., 0] * 100 / 255 + 16) / 116) ** 3
    srgb = np.where(y <= 0.0031308, 12.92 * y, 1.055 * y ** (1 / 2.4) - 0.055) * 255
    return Case(saved(Image.fromarray(lab.astype(np.uint8), "LAB"), "TIFF"), ".tif", grey_rgb(srgb), tolerance=2.5)


def case_exif(orientation: int) -> Callable[[], Case]:
    """A JPEG stored sideways or mirrored with the EXIF tag that makes viewers show ``upright``."""
    store = {2: np.fliplr, 3: lambda a: np.rot90(a, 2), 6: lambda a: np.rot90(a, 1), 8: lambda a: np.rot90(a, -1)}

    def make() -> Case:
        upright = quadrants([RED, GREEN, BLUE, (250, 250, 250)]).astype(np.uint8)  # the marker: red, top-left
        im = Image.fromarray(np.ascontiguousarray(store[orientation](upright)), "RGB")
        exif = Image.Exif()
        exif[0x0112] = orientation
        return Case(saved(im, "JPEG", quality=98, exif=exif), ".jpg", upright.astype(float), tolerance=3.0)
    return make


def animated(fmt: str, suffix: str, **params) -> Callable[[], Case]:
    def make() -> Case:
        first = quadrants([RED, GREEN, BLUE, GREY]).astype(np.uint8)
        frames = [Image.fromarray(first, "RGB"), Image.fromarray(255 - first, "RGB")]
        data = saved(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **params)
        return Case(data, suffix, first.astype(float), tolerance=2.0,
                    warning="the reference image is animated (2 frames); only its first frame is used")
    return make


CASES: dict[str, Callable[[], Case]] = {
    "P palette": case_palette,
    "P palette with per-index transparency": case_palette_transparent,
    "L grey": case_grey,
    "LA grey with alpha": case_grey_alpha,
    "RGBA PNG": rgba_case("PNG", ".png"),
    "RGBA WebP": rgba_case("WEBP", ".webp", lossless=True),
    "RGB PNG with a transparent colour key": case_rgb_colour_key,
    "CMYK JPEG (Adobe inverted)": case_cmyk,
    "I;16 PNG": case_16bit("I;16", "PNG", ".png"),
    "I;16B TIFF": case_16bit("I;16B", "TIFF", ".tif"),
    "16-bit RGB PNG": case_rgb16,
    "I 32-bit integer holding 16-bit values": case_int32([0, 1000, 30000, 65535], None),
    "I 32-bit integer beyond 16 bits": case_int32(
        [-5000, 0, 100000, 1000000], "holds 32-bit integer values from -5000 to 1e+06, outside any usual range"),
    "F float 0..1": case_float([0.0, 0.25, 0.6, 1.0], lambda v: v * 255),
    "F float 0..255": case_float([0.0, 12.5, 128.0, 255.0], lambda v: v),
    "F float of any range": case_float(
        [-2.0, 0.0, 300.0, 998.0], lambda v: (v + 2) * 255 / 1000, "holds floating-point values from -2 to 998"),
    "1 bilevel": case_bilevel,
    "LAB TIFF": case_lab,
    "JPEG EXIF orientation 2 (mirrored)": case_exif(2),
    "JPEG EXIF orientation 3 (upside down)": case_exif(3),
    "JPEG EXIF orientation 6 (phone held upright)": case_exif(6),
    "JPEG EXIF orientation 8": case_exif(8),
    "animated GIF": animated("GIF", ".gif"),
    "animated WebP": animated("WEBP", ".webp", lossless=True),
    "animated PNG (APNG)": animated("PNG", ".png"),
}


def sent_pixels(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """What the service receives, decoded; it must be a plain 8-bit RGB PNG/JPEG/WebP still of the asked size."""
    with Image.open(io.BytesIO(data)) as im:
        assert im.format in ("PNG", "JPEG", "WEBP") and im.mode == "RGB" and im.size == size
        assert not getattr(im, "is_animated", False)
        assert im.format != "PNG" or data[24] == 8  # 8 bits per channel in the PNG header
        return np.asarray(im, dtype=np.float64)


def compare(got: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    """Mean per channel, and the centre of each quadrant (orientation), within ``tolerance`` levels."""
    np.testing.assert_allclose(got.mean(axis=(0, 1)), expected.mean(axis=(0, 1)), atol=tolerance)
    gh, gw = got.shape[:2]
    for qy in (0, 1):
        for qx in (0, 1):
            cy, cx = gh * (2 * qy + 1) // 4, gw * (2 * qx + 1) // 4
            g = got[cy - 1: cy + 1, cx - 1: cx + 1].mean(axis=(0, 1))
            e = expected[cy, cx]
            np.testing.assert_allclose(g, e, atol=tolerance, err_msg=f"quadrant {qy},{qx}")


@pytest.mark.parametrize("size", ["32x24", "64x48"], ids=["same size", "enlarged 2x"])
@pytest.mark.parametrize("name", list(CASES))
def test_every_mode_is_sent_as_the_user_sees_it(name, size, tmp_path: Path):
    case = CASES[name]()
    target = tuple(int(n) for n in size.split("x"))
    path = tmp_path / f"source{case.suffix}"
    path.write_bytes(case.data)

    through_file = fit_image(load_image_file(path), size, "stretch")
    through_bytes = fit_reference(case.data, size, "stretch")
    assert through_bytes.image.data == through_file.data
    compare(sent_pixels(through_file.data, target), np.kron(case.expected, np.ones((target[1] // H, target[0] // W, 1))),
            case.tolerance)
    if case.warning:
        assert any(case.warning in w for w in through_bytes.warnings), through_bytes.warnings
    else:
        assert through_bytes.warnings == []


def test_plain_rgb_of_the_right_size_is_sent_unchanged():
    rgb = quadrants([RED, GREEN, BLUE, GREY]).astype(np.uint8)
    for fmt in ("JPEG", "PNG", "WEBP"):
        data = saved(Image.fromarray(rgb, "RGB"), fmt)
        assert fit_reference(data, f"{W}x{H}").image.data == data, fmt


def test_transparency_lands_on_the_pad_colour_like_the_letterbox():
    clear = saved(Image.new("RGBA", (40, 10), (255, 255, 255, 0)), "PNG")
    sent = sent_pixels(fit_image(clear, "40x40", "pad").data, (40, 40))
    assert (sent == np.array(PAD_COLOUR)).all()  # bars and see-through pixels alike


# ---------------------------------------------------------------------------------------------- small references
def test_a_tiny_reference_is_named_with_its_scale_factor():
    tiny = saved(Image.new("RGB", (10, 10), RED), "PNG")
    fitted = fit_reference(tiny, "1280x720", "crop")
    assert fitted.warnings == ["the reference image is 10x10; it is enlarged 128x to 1280x720 and will look blurry "
                               "(at least 640x360 keeps it sharp)"]
    assert "enlarged 72x to 1280x720" in fit_reference(tiny, "1280x720", "pad").warnings[0]
    assert "enlarged 128x across and 72x down" in fit_reference(tiny, "1280x720", "stretch").warnings[0]
    assert fit_reference(saved(Image.new("RGB", (640, 360), RED), "PNG"), "1280x720").warnings == []


def test_the_warning_measures_the_picture_as_seen():
    # stored 720x64 but tagged "rotate 90": the user sees a 64x720 picture, enlarged 20x to fill 1280x720
    exif = Image.Exif()
    exif[0x0112] = 6
    data = saved(Image.new("RGB", (720, 64), RED), "JPEG", exif=exif)
    assert "is 64x720; it is enlarged 20x" in fit_reference(data, "1280x720", "crop").warnings[0]


@settings(max_examples=80, deadline=None)
@given(sw=st.integers(1, 4000), sh=st.integers(1, 4000), target=st.sampled_from(["1280x720", "720x1280", "1792x1024"]),
       mode=st.sampled_from(["crop", "pad", "stretch"]))
def test_warned_exactly_when_enlarged_more_than_twice(sw, sh, target, mode):
    w, h = (int(n) for n in target.split("x"))
    message = enlargement_warning((sw, sh), target, mode)
    fx, fy = enlargement((sw, sh), (w, h), mode)
    assert (message is not None) == (max(fx, fy) > MAX_SHARP_ENLARGEMENT)
    if message:
        assert message.startswith(f"the reference image is {sw}x{sh}; it is enlarged ") and f"to {target}" in message


# ---------------------------------------------------------------------------------------------- front ends
def test_cli_warns_before_the_create_and_in_json(capsys, tmp_path: Path):
    from sora2_bridge.cli import main

    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(saved(Image.new("RGB", (10, 10), RED), "PNG"))
    said = "Warning: the reference image is 10x10; it is enlarged 128x to 1280x720 and will look blurry"

    assert main(["generate", "A fox", "--simulate", "--size", "1280x720", "--image", str(tiny), "--no-wait"]) == 0
    stderr = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert said in stderr and stderr.index(said) < stderr.index("Estimated cost") < stderr.index("Created")

    assert main(["generate", "A fox", "--simulate", "--size", "1280x720", "--image", str(tiny), "--no-wait",
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert said in " ".join(captured.err.split())
    assert json.loads(captured.out)["warnings"] == [said.removeprefix("Warning: ") + " (at least 640x360 keeps it sharp)"]
