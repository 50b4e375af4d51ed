"""Make the fonts invoices and receipts embed (backend/orders/fonts/) from DejaVu Sans 2.37.

Run once by a maintainer (fontTools is a build-time tool here, not a runtime dependency):
    python scripts/subset_fonts.py /usr/share/fonts/truetype/dejavu   # Debian fonts-dejavu-core

Keeps the scripts a shop's customers write their names in (Latin with all European extensions,
Greek, Cyrillic, Vietnamese), punctuation and currency signs; drops hinting, OpenType layout
tables and the long licence text from the name table (the licence ships as LICENSE-DejaVu.txt).
reportlab copies every table of the font into each PDF's subset, so this makes a receipt ~5x
smaller and faster to render. Changing these files changes the bytes of re-rendered documents:
a new font needs a new layout number in backend/orders/documents.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset

RANGES = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x024F),  # Latin-1, Latin Extended-A and -B (Polish, Turkish, Czech, Romanian…)
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x052F),  # Cyrillic and its supplement
    (0x1E00, 0x1EFF),  # Latin Extended Additional (Vietnamese)
    (0x2000, 0x206F),  # general punctuation (dashes, quotes, bullet, ellipsis)
    (0x20A0, 0x20CF),  # currency signs
    (0x2100, 0x214F),  # letterlike symbols (№, ™)
    (0x2212, 0x2212),  # minus sign
    (0xFFFD, 0xFFFD),  # replacement character
]
OUT = Path(__file__).resolve().parent.parent / "backend" / "orders" / "fonts"


def main(source_dir: str) -> None:
    # one font: bold is drawn by stroking the regular one (documents.py)
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 14]  # copyright … PostScript name, licence URL
    options.notdef_outline = True
    font = subset.load_font(str(Path(source_dir) / "DejaVuSans.ttf"), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[u for lo, hi in RANGES for u in range(lo, hi + 1)])
    subsetter.subset(font)
    font.recalcTimestamp = False  # keep 2.37's own date: the same input gives the same file
    subset.save_font(font, str(OUT / "DejaVuSans.ttf"), options)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu")
