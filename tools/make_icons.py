"""Draw the chat page's app icons (static/icons/*.png) with Pillow.

    python tools/make_icons.py        # rewrites the PNGs; commit them with any change here

The icons are drawn, not downloaded: a speech bubble with three dots on the
page's accent colour. Kept out of static/ because chatd serves every file
under static/ (chatd/web/assets.py), and a build script is not part of the page.

Files (static/manifest.webmanifest and index.html name them):
    icon-192.png, icon-512.png        purpose "any": a rounded square, transparent corners
    maskable-192.png, maskable-512.png purpose "maskable": full bleed, the bubble inside the
                                       safe zone (the centred circle of 80% diameter, W3C
                                       Web App Manifest, "icon masks")
    apple-touch-icon.png              180 px, full bleed (iOS rounds the corners itself)
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "static" / "icons"
ACCENT = (36, 87, 197, 255)  # style.css --accent (light)
BUBBLE = (255, 255, 255, 255)
SUPERSAMPLE = 4  # drawn this many times larger, then scaled down: smooth edges
CORNER = 0.22  # the "any" icon's corner radius, of its size
# How much of the icon's width the bubble takes: the full-bleed ones keep it inside the safe zone.
BUBBLE_SCALE = {"any": 0.62, "maskable": 0.52}


def draw(size: int, purpose: str, rounded: bool) -> Image.Image:
    """One icon of ``size`` px: ``purpose`` "any" or "maskable"; ``rounded`` corners or full bleed."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if rounded:
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=int(big * CORNER), fill=ACCENT)
    else:
        pen.rectangle((0, 0, big - 1, big - 1), fill=ACCENT)
    width = big * BUBBLE_SCALE[purpose]
    height = width * 0.72
    left = (big - width) / 2
    top = (big - height) / 2 - height * 0.08
    pen.rounded_rectangle((left, top, left + width, top + height), radius=height * 0.32, fill=BUBBLE)
    # The tail, under the bubble's lower left.
    tail_x = left + width * 0.22
    bottom = top + height
    pen.polygon([(tail_x, bottom - height * 0.1), (tail_x + width * 0.2, bottom - height * 0.05),
                 (tail_x - width * 0.06, bottom + height * 0.26)], fill=BUBBLE)
    # Three dots: someone is writing.
    radius = height * 0.085
    for i in (-1, 0, 1):
        cx = big / 2 + i * width * 0.22
        cy = top + height / 2
        pen.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=ACCENT)
    return image.resize((size, size), Image.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        draw(size, "any", rounded=True).save(OUT / f"icon-{size}.png", optimize=True)
        draw(size, "maskable", rounded=False).save(OUT / f"maskable-{size}.png", optimize=True)
    draw(180, "any", rounded=False).convert("RGB").save(OUT / "apple-touch-icon.png", optimize=True)


if __name__ == "__main__":
    main()
