"""Uploaded images proved, cleaned and thumbnailed with Pillow. Blocking: run it in an executor.

An image is decoded in full (a file that only starts like one is refused), its
size checked before its pixels are (a decompression bomb is refused from its
header), turned as its EXIF orientation says, and encoded anew in its own
format from the pixels alone: EXIF (GPS position, camera serial), XMP and
comments are gone; only the ICC colour profile (how its colours are meant) and
what an animation needs (frame timing, transparency) stay. Animations keep
their frames. The thumbnail is WebP, at most ``thumb_px`` on a side.

    image = clean(data, "image/jpeg", max_pixels=40_000_000, thumb_px=400)
    image.data, image.width, image.height, image.thumb   # thumb: None when the image is that small
"""

from __future__ import annotations

import io
import warnings
from typing import Any, NamedTuple

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from chatd.filetypes import GIF, JPEG, PNG, WEBP

FORMATS = {JPEG: "JPEG", PNG: "PNG", GIF: "GIF", WEBP: "WEBP"}
THUMB_TYPE = "image/webp"
THUMB_QUALITY = 80
JPEG_QUALITY = 90  # re-encoding loses a little: at 90 nobody sees it
WEBP_QUALITY = 90
# What of an image's info outlives the cleaning: how its colours are meant and what its frames need.
KEPT_INFO = ("icc_profile", "transparency", "duration", "loop", "background", "disposal")


class ImageRefused(Exception):
    """Not an image chatd takes: ``code`` (``bad_image``, ``image_too_large``), str() says why,
    ``details`` the same in data (docs/protocol.md, "error")."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.details = details or {}


class CleanImage(NamedTuple):
    data: bytes  # the image encoded anew, in its own format, without metadata
    width: int  # pixels, as shown (its EXIF orientation applied)
    height: int
    thumb: bytes | None  # WebP (THUMB_TYPE), at most thumb_px a side; None: the image is no larger


def clean(data: bytes, kind: str, max_pixels: int, thumb_px: int) -> CleanImage:
    """``data``, which ``chatd.filetypes.sniff`` took for the image kind ``kind``, proved,
    cleaned and thumbnailed (see the module). ImageRefused when it is no such image
    (``bad_image``) or holds more than ``max_pixels`` pixels, all frames together
    (``image_too_large``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[FORMATS[kind]]) as image:
                pixels = image.width * image.height
                if pixels > max_pixels:  # the header says so: nothing is decoded
                    raise _too_large(image.width, image.height, max_pixels)
                frames = getattr(image, "n_frames", 1)
                if pixels * frames > max_pixels:
                    raise _too_large(image.width, image.height, max_pixels, frames)
                return _clean(image, FORMATS[kind], frames, thumb_px)
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused("image_too_large", "the image holds too many pixels", {"limit": max_pixels}) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        # Pillow's own words are for its programmers (they may hold a repr such as
        # "<_io.BytesIO object at 0x7f…>"): the user is told what the file is not.
        raise ImageRefused("bad_image", f"the file is not a valid {FORMATS[kind]} image",
                           {"format": FORMATS[kind]}) from None


def _too_large(width: int, height: int, max_pixels: int, frames: int = 1) -> ImageRefused:
    what = f"{width} × {height} pixels" + (f" × {frames} frames" if frames > 1 else "")
    return ImageRefused("image_too_large", f"the image is {what}; at most {max_pixels} pixels are accepted",
                        {"width": width, "height": height, "frames": frames, "limit": max_pixels})


def _clean(image: Image.Image, fmt: str, frames: int, thumb_px: int) -> CleanImage:
    info = {key: image.info[key] for key in KEPT_INFO if key in image.info}
    if frames > 1:
        # Orientation is a photo's matter; animations are drawn upright. Each frame is copied
        # off the source, so nothing of its metadata comes along.
        pictures = [_bare(frame.copy(), info) for frame in ImageSequence.Iterator(image)]
        first = pictures[0]
        extra = {"save_all": True, "append_images": pictures[1:]}
    else:
        first = _bare(ImageOps.exif_transpose(image), info)
        extra = {}
    options = {"JPEG": {"quality": JPEG_QUALITY}, "WEBP": {"quality": WEBP_QUALITY}}.get(fmt, {})
    out = io.BytesIO()
    # Transparency stays in the image's info, where the encoders read it; the rest is said to ``save``.
    first.save(out, fmt, **options, **extra, **{k: v for k, v in info.items() if k != "transparency"})
    thumb = None
    if max(first.size) > thumb_px:
        small = first.convert("RGBA" if _has_alpha(first) else "RGB")
        small.thumbnail((thumb_px, thumb_px), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        small.save(buffer, "WEBP", quality=THUMB_QUALITY)
        thumb = buffer.getvalue()
    return CleanImage(out.getvalue(), first.width, first.height, thumb)


def _bare(image: Image.Image, info: dict) -> Image.Image:
    """``image`` with its info reduced to ``info``: what ``save`` would otherwise copy from it
    (EXIF, XMP, comments) is gone."""
    image.info = dict(info)
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
