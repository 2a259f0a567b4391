"""chatd.imaging: images proved, cleaned and thumbnailed."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from chatd.imaging import ImageRefused, clean


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(("mode", "fmt", "kind"), [
    ("RGB", "JPEG", "image/jpeg"), ("CMYK", "JPEG", "image/jpeg"), ("L", "JPEG", "image/jpeg"),
    ("RGBA", "PNG", "image/png"), ("LA", "PNG", "image/png"), ("1", "PNG", "image/png"), ("I;16", "PNG", "image/png"),
    ("P", "PNG", "image/png"), ("RGBA", "WEBP", "image/webp"), ("P", "GIF", "image/gif"),
])
def test_every_mode_is_kept_and_thumbnailed(mode, fmt, kind):
    image = clean(encoded(Image.new(mode, (800, 500)), fmt), kind, 10_000_000, 400)
    assert (image.width, image.height) == (800, 500)
    assert Image.open(io.BytesIO(image.data)).format == fmt
    assert Image.open(io.BytesIO(image.thumb)).size == (400, 250)


@pytest.mark.parametrize(("fmt", "kind"), [("GIF", "image/gif"), ("WEBP", "image/webp"), ("PNG", "image/png")])
def test_an_animation_keeps_its_frames_and_loses_its_metadata(fmt, kind):
    frames = [Image.new("RGB", (120, 80), (i * 60, 0, 0)) for i in range(4)]
    metadata = {"comment": b"secret"} if fmt == "GIF" else {"exif": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00"}
    data = encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **metadata)
    image = clean(data, kind, 10_000_000, 400)
    shown = Image.open(io.BytesIO(image.data))
    assert shown.n_frames == 4 and "comment" not in shown.info and not shown.getexif()
    assert image.thumb is None  # no larger than a thumbnail


def test_the_frames_of_an_animation_count_against_the_pixels():
    frames = [Image.new("RGB", (100, 100), (i, 0, 0)) for i in range(5)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageRefused) as refused:
        clean(data, "image/gif", 40_000, 400)
    assert refused.value.code == "image_too_large" and "× 5 frames" in str(refused.value)


def test_a_truncated_image_is_refused():
    data = encoded(Image.new("RGB", (300, 300), (1, 2, 3)), "PNG")
    with pytest.raises(ImageRefused) as refused:
        clean(data[:len(data) // 2], "image/png", 10_000_000, 400)
    assert (refused.value.code, str(refused.value)) == ("bad_image", "the file is not a valid PNG image")
