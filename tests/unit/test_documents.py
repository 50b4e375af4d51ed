"""Invoices and receipts: Unicode names embedded (DejaVu Sans), long names wrapped, and the
same document always rendered to the same bytes; documents issued before keep their layout."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from datetime import datetime

from backend.orders.documents import (
    FONT_SHA256,
    FONTS,
    LAYOUT,
    DocLine,
    DocumentData,
    render_pdf,
)

NAMES = {
    "pl": "Żółć gęślą jaźń: kolagen",
    "tr": "Ağrı kesici değil: ığdır çayı İŞĞ",
    "ru": "Коллаген для кожи и суставов",
    "el": "Κολλαγόνο για δέρμα ΩΣΣ ς",
}
LONG = (
    "Marine collagen peptides with vitamin C, hyaluronic acid and biotin for skin, hair, "
    "nails and joints, unflavoured 300 g tub"
)
SELLER = {"name": "Sklep Zdrowie", "address": "ul. Łąkowa 1, Łódź", "tax_id": "PL1"}


def document(layout: int | None = LAYOUT, lines=None) -> DocumentData:
    lines = lines or tuple(
        DocLine(name, f"SKU-{code}", 1, 2999, 2999) for code, name in NAMES.items()
    ) + (DocLine(LONG, "SKU-LONG", 2, 1000, 2000),)
    seller = dict(SELLER, tax_rate_percent="0", **({"layout": layout} if layout else {}))
    return DocumentData(
        kind="Receipt",
        number="R-2026-000042",
        issued_at=datetime(2026, 11, 25, 12, 0, 0),
        order_public_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        currency="PLN",
        lines=lines,
        subtotal_minor=13996,
        tax_minor=0,
        total_minor=13996,
        seller=seller,
        note="Zapłacono kartą — dziękujemy! " * 8,
    )


def text_lines(pdf: bytes) -> list[str]:
    """The text drawn, one entry per text object, decoded through each font's ToUnicode map
    (enough of a PDF reader for reportlab's uncompressed output)."""
    raw = pdf.decode("latin-1")
    objects = dict(re.findall(r"(?m)^(\d+) 0 obj\n(.*?)\nendobj", raw, re.S))
    cmaps: dict[str, dict[int, str]] = {}
    for name, ref in re.findall(r"/Name /(\S+) [^>]*?/ToUnicode (\d+) 0 R", raw.replace("\n", " ")):
        pairs = re.findall(r"<([0-9A-F]{2})> <([0-9A-F]{4})>", objects[ref])
        cmaps[name] = {int(code, 16): chr(int(uni, 16)) for code, uni in pairs}
    lines = []
    for block in re.findall(r"BT (.*?) ET", raw, re.S):
        font, out = None, []
        for token in re.finditer(r"/(\S+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\) Tj", block):
            if token.group(1):
                font = token.group(1)
                continue
            data = re.sub(
                r"\\([0-7]{1,3}|.)",
                lambda m: chr(int(m.group(1), 8)) if m.group(1).isdigit() else m.group(1),
                token.group(2),
            )
            table = cmaps.get(font)
            out.append("".join(table[ord(ch)] if table else ch for ch in data))
        if out:
            lines.append(" ".join(out))
    return lines


def test_receipt_renders_to_the_same_bytes_every_time_and_in_every_process():
    first = hashlib.sha256(render_pdf(document())).hexdigest()
    assert hashlib.sha256(render_pdf(document())).hexdigest() == first
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import hashlib; from tests.unit.test_documents import document; "
            "from backend.orders.documents import render_pdf; "
            "print(hashlib.sha256(render_pdf(document())).hexdigest())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert other.stdout.strip() == first


def test_polish_turkish_cyrillic_and_greek_names_render_with_an_embedded_font():
    pdf = render_pdf(document())
    assert b"/FontFile2" in pdf and b"DejaVuSans" in pdf
    drawn = "\n".join(text_lines(pdf))
    for code, name in NAMES.items():
        assert f"{name} (SKU-{code})" in drawn
    assert "ul. Łąkowa 1, Łódź" in drawn


def test_a_120_character_name_wraps_instead_of_being_cut():
    assert len(LONG) >= 120
    lines = text_lines(render_pdf(document()))
    start = next(i for i, line in enumerate(lines) if line.startswith("Marine collagen"))
    wrapped = []
    for line in lines[start:]:
        if line in ("2", "10.00 PLN", "20.00 PLN"):  # the row's other columns
            continue
        wrapped.append(line)
        if line.endswith("(SKU-LONG)"):
            break
    assert len(wrapped) >= 2
    assert " ".join(wrapped) == f"{LONG} (SKU-LONG)"
    note = [line for line in lines if "Zapłacono" in line or "dziękujemy" in line]
    assert len(note) >= 2  # the long note wraps too


def test_the_shipped_font_is_the_one_layout_2_was_made_with():
    data = (FONTS / "DejaVuSans.ttf").read_bytes()
    assert hashlib.sha256(data).hexdigest() == FONT_SHA256
    assert (FONTS / "LICENSE-DejaVu.txt").read_text().count("Bitstream") > 0


def test_bold_is_drawn_by_stroking_so_one_font_subset_is_embedded():
    pdf = render_pdf(document())
    assert pdf.count(b"/FontFile2") == 1
    assert b"2 Tr" in pdf  # fill + stroke render mode for the title, headings and total


def test_documents_issued_before_keep_their_helvetica_layout():
    # No "layout" in the stored render context: drawn as before, so `audit verify` matches.
    old = render_pdf(document(layout=None, lines=(DocLine("Collagen", "SKU1", 1, 2999, 2999),)))
    assert b"/BaseFont /Helvetica" in old and b"DejaVuSans" not in old
