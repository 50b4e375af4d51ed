"""Deterministic PDFs for invoices, receipts and credit notes (reportlab canvas).

Same inputs → same bytes: invariant mode, the PDF creation date set to the document's own
issue time, and the document ID derived from the content. Everything drawn comes from stored
rows plus the seller details snapshotted at issue time, so `audit verify` can re-render it.

Layout 2 (`seller["layout"] == 2`, every document issued now) embeds DejaVu Sans, shipped in
`fonts/` with its licence (made by scripts/subset_fonts.py; FONT_SHA256 pins it, since another
font file would change the bytes of re-rendered documents), so Polish, Turkish, Cyrillic and
Greek names render, and wraps long product names and notes. Layout 1 (documents issued before,
no "layout" key) keeps the built-in Helvetica and the old cuts, so their re-render still hashes
the same.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from backend.money import format_minor

LAYOUT = 2  # stored in each new document's render context
FONTS = Path(__file__).with_name("fonts")
FONT_SHA256 = "34c52dcb84409cec6082380c42b5eba0d5c536f19607cfdaf484af5da68152e4"
NAME_WIDTH = 240  # points between the item column (x=50) and the quantity column


@dataclass(frozen=True)
class _Style:
    regular: str
    bold: str
    # text render mode for bold: None = a bold font; 2 = the regular font filled and stroked,
    # so each PDF embeds one font subset, not two (the subset is most of a receipt's cost)
    bold_mode: int | None
    wrap: bool


_LEGACY = _Style("Helvetica", "Helvetica-Bold", bold_mode=None, wrap=False)
_UNICODE = _Style("DejaVuSans", "DejaVuSans", bold_mode=2, wrap=True)


def _style(seller: dict) -> _Style:
    if seller.get("layout") != LAYOUT:
        return _LEGACY
    if _UNICODE.regular not in pdfmetrics.getRegisteredFontNames():
        data = (FONTS / "DejaVuSans.ttf").read_bytes()
        if hashlib.sha256(data).hexdigest() != FONT_SHA256:
            raise RuntimeError(
                "fonts/DejaVuSans.ttf is not layout 2's font: documents would differ"
            )
        pdfmetrics.registerFont(TTFont(_UNICODE.regular, io.BytesIO(data)))
    return _UNICODE


@dataclass(frozen=True)
class DocLine:
    name: str
    sku: str
    quantity: int
    unit_price_minor: int
    line_total_minor: int


@dataclass(frozen=True)
class DocumentData:
    kind: str  # "Invoice" | "Receipt" | "Credit note"
    number: str
    issued_at: datetime
    order_public_id: str
    currency: str
    lines: tuple[DocLine, ...]
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    seller: dict  # {"name", "address", "tax_id", "tax_rate_percent"}
    references: tuple[tuple[str, str], ...] = ()  # extra "label: value" rows
    note: str = ""


def _utc(value: datetime) -> datetime:
    return (
        value.replace(tzinfo=timezone.utc)
        if value.tzinfo is None
        else value.astimezone(timezone.utc)
    )


def render_pdf(doc: DocumentData) -> bytes:
    issued = _utc(doc.issued_at)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1, pageCompression=0)
    c.setDateFormatter(lambda *_: issued.strftime("D:%Y%m%d%H%M%S+00'00'"))
    c.setTitle(f"{doc.kind} {doc.number}")
    c.setAuthor(doc.seller.get("name", ""))
    c.setCreator("Health Trend Seller")
    c.setSubject(f"order {doc.order_public_id}")
    width, height = A4
    style = _style(doc.seller)
    regular, bold, bold_mode = style.regular, style.bold, style.bold_mode
    if bold_mode:
        c.setLineWidth(0.35)  # the stroke that makes text bold (and the totals rule)
    money = lambda minor: format_minor(minor, doc.currency)  # noqa: E731
    # The header is one text object (one PDF text block): fewer operations, faster rendering.
    header = c.beginText(50, height - 60)
    header.setFont(bold, 18)
    if bold_mode:
        header.setTextRenderMode(bold_mode)
    header.textLine(f"{doc.kind} {doc.number}")
    if bold_mode:
        header.setTextRenderMode(0)
    header.setFont(regular, 10, leading=14)
    header.moveCursor(0, 10)
    header.textLines(
        [
            doc.seller.get("name", ""),
            doc.seller.get("address", ""),
            f"Tax ID: {doc.seller.get('tax_id', '')}",
            "",
            f"Issued: {issued.strftime('%Y-%m-%d %H:%M:%S UTC')}",
            f"Order: {doc.order_public_id}",
            *(f"{label}: {value}" for label, value in doc.references),
        ]
    )
    c.drawText(header)
    y = header.getY() - 14
    c.setFont(bold, 10)
    for x, text in ((50, "Item"), (300, "Qty"), (350, "Unit price"), (460, "Amount")):
        c.drawString(x, y, text, mode=bold_mode)
    c.setFont(regular, 10)
    y -= 16
    for line in doc.lines:
        label = f"{line.name} ({line.sku})"
        names = simpleSplit(label, regular, 10, NAME_WIDTH) if style.wrap else [label[:48]]
        if y - 14 * (len(names) - 1) < 120:
            c.showPage()
            c.setFont(regular, 10)
            y = height - 60
        c.drawString(50, y, names[0])
        c.drawRightString(320, y, str(line.quantity))
        c.drawRightString(440, y, money(line.unit_price_minor))
        c.drawRightString(545, y, money(line.line_total_minor))
        for part in names[1:]:
            y -= 14
            c.drawString(50, y, part)
        y -= 14
    y -= 10
    c.line(300, y + 6, 545, y + 6)
    rate = doc.seller.get("tax_rate_percent", "0")
    for label, amount, strong in (
        ("Subtotal", doc.subtotal_minor, False),
        (f"Tax ({rate}%)", doc.tax_minor, False),
        ("Total", doc.total_minor, True),
    ):
        c.setFont(bold if strong else regular, 10)
        mode = bold_mode if strong else None
        c.drawString(350, y - 8, label, mode=mode)
        c.drawRightString(545, y - 8, money(amount), mode=mode)
        y -= 14
    if doc.note:
        c.setFont(regular, 9)
        notes = simpleSplit(doc.note, regular, 9, 495) if style.wrap else [doc.note[:110]]
        for part in notes:
            c.drawString(50, y - 24, part)
            y -= 12
    c.showPage()
    c.save()
    return buf.getvalue()
