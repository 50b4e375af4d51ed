"""Draw the sample catalog's product pictures (backend/api/static/products/<SKU>.png).

Run by a maintainer when the sample catalog gains a product (Pillow is a build-time tool here;
the PNGs are committed, so the app needs nothing at run time):
    .venv/bin/python scripts/product_images.py

Each picture is a flat drawing made by this script: a pack shape by kind (capsule jar, device,
skincare tube), the category's colour, the product's name and SKU. No photo or third-party
artwork is used, so the shop may redistribute them under the project's licence. PNG (not SVG)
because WhatsApp accepts only JPEG/PNG images as media messages.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "backend" / "sample_data" / "catalog.json"
OUT = ROOT / "backend" / "api" / "static" / "products"
FONT = ROOT / "backend" / "orders" / "fonts" / "DejaVuSans.ttf"
SIZE = 240
COLOURS = {  # category → (background, pack)
    "Weight Loss": ("#e3f2e8", "#2f7a50"),
    "Cardio": ("#fbe6e6", "#b23a3a"),
    "Metabolic": ("#fff3dc", "#b7791f"),
    "Beauty": ("#f6e7f3", "#8e3f7d"),
    "Skincare": ("#f3ece4", "#8a5a36"),
    "Devices": ("#e4ecf6", "#2d5b94"),
    "Sleep": ("#e8e6f7", "#4a44a0"),
    "Gut Health": ("#e6f4f1", "#2a7d70"),
    "Immunity": ("#fdf0dd", "#c0661c"),
    "Energy": ("#fff8d6", "#a68a00"),
    "Fitness": ("#e2f1f8", "#1f6f94"),
    "Wellness": ("#edf3e3", "#5b7a2a"),
}


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size)


def _pack(draw: ImageDraw.ImageDraw, product: dict, colour: str) -> None:
    """A jar for supplements, a tube for skincare, a box with a screen for devices."""
    if product["category"] == "Devices":
        draw.rounded_rectangle((62, 40, 178, 154), radius=14, fill=colour)
        draw.rounded_rectangle((76, 74, 164, 120), radius=6, fill="#ffffff")
        draw.ellipse((112, 126, 128, 142), fill="#ffffff")
        draw.ellipse((112, 50, 128, 66), fill="#ffffff")
    elif not product.get("is_supplement", True):
        draw.rounded_rectangle((88, 30, 152, 150), radius=22, fill=colour)
        draw.rectangle((104, 18, 136, 34), fill="#555555")
        draw.rectangle((96, 70, 144, 110), fill="#ffffff")
    else:
        draw.rounded_rectangle((92, 26, 148, 46), radius=5, fill="#555555")
        draw.rounded_rectangle((74, 44, 166, 150), radius=16, fill=colour)
        draw.rectangle((82, 72, 158, 122), fill="#ffffff")
    draw.text((120, 97), product["sku"], font=_font(15), fill=colour, anchor="mm")


def draw(product: dict) -> Image.Image:
    background, colour = COLOURS.get(product["category"], ("#eeeeee", "#444444"))
    image = Image.new("RGB", (SIZE, SIZE), background)
    canvas = ImageDraw.Draw(image)
    _pack(canvas, product, colour)
    lines = textwrap.wrap(product["name"], width=24)[:2]
    for i, line in enumerate(lines):
        canvas.text((120, 176 + i * 22), line, font=_font(16), fill="#1d2b24", anchor="mm")
    return image


def main() -> int:
    products = json.loads(CATALOG.read_text())
    OUT.mkdir(parents=True, exist_ok=True)
    for product in products:
        target = OUT / f"{product['sku']}.png"
        draw(product).save(target, format="PNG", optimize=True)
    print(f"{len(products)} images in {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
