"""Compliance and sales reports for a period, as CSV rows built from the overview's figures
(aggregates only: no personal data, so the files can leave the dashboard), and the same rows as
a PDF table (reportlab, with the DejaVu font the receipts embed)."""

from __future__ import annotations

import csv
import io
from html import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from backend.orders.documents import FONTS


def compliance_rows(data: dict) -> list[list]:
    """section, item, value, total, percent: verified n/N per kind, alerts, open alerts."""
    rows: list[list] = [["section", "item", "value", "total", "percent"]]
    c = data["compliance"]
    rows.append(["audit", "audited_at", c["audited_at"] or "never", "", ""])
    rows.append(["audit", "ledger_entries", c["ledger_entries"] or 0, "", ""])
    for v in c["verified"]:
        rows.append(["verified", v["kind"], v["verified"], v["total"], v["percent"] or ""])
        rows.append(["mismatched", v["kind"], v["mismatched"], "", ""])
    for key, value in c["alerts_30d"].items():
        rows.append(["alerts_30d", key, value, "", ""])
    for alert in data["alerts"]:
        rows.append(["open_alert", alert["kind"], alert["count"], "", ""])
    return rows


def sales_rows(data: dict) -> list[list]:
    """One row per day (orders, revenue, leads per kind), then the funnel and the KPIs."""
    kinds = data["leads_per_day"]["kinds"]
    rows: list[list] = [["day", "orders", "revenue", "currency", *[f"leads_{k}" for k in kinds]]]
    leads = {row["day"]: row for row in data["leads_per_day"]["days"]}
    for row in data["orders_per_day"]:
        day_leads = leads.get(row["day"], {})
        rows.append(
            [row["day"], row["orders"], round(row["revenue"], 2), row["currency"] or "",
             *[day_leads.get(k, 0) for k in kinds]]
        )  # fmt: skip
    rows.append([])
    rows.append(["funnel_step", "chats", "percent"])
    rows.extend([s["step"], s["count"], s["percent"] or ""] for s in data["funnel"])
    rows.append([])
    rows.append(["kpi", "value"])
    sales = data["sales"]
    for key in ("new_leads_24h", "high_intent_leads", "leads_in_period", "follow_ups_due_24h",
                "sla_overdue", "closed_30d", "conversion_percent"):  # fmt: skip
        rows.append([key, sales[key] if sales[key] is not None else ""])
    for r in sales["revenue"]:
        rows.append([f"revenue_{r['currency']}", r["amount_minor"]])
        rows.append([f"growth_percent_{r['currency']}", r["growth_percent"] or ""])
    return rows


def to_csv(rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        # a cell starting with = + - @ would be a formula in a spreadsheet: quote it as text
        writer.writerow(
            [f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row]
        )
    return out.getvalue()


def _pdf_font() -> str:
    """DejaVu Sans (shipped with the receipts) so every name renders; registered once."""
    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(FONTS / "DejaVuSans.ttf")))
    return "DejaVuSans"


def to_pdf(title: str, subtitle: str, rows: list[list]) -> bytes:
    """The same rows as the CSV, as an A4 table (blank rows start a new table section)."""
    font = _pdf_font()
    styles = getSampleStyleSheet()
    for name in ("Title", "Normal"):
        styles[name].fontName = font
    sections: list[list[list]] = [[]]
    for row in rows:
        if row:
            sections[-1].append(["" if v is None else str(v) for v in row])
        elif sections[-1]:
            sections.append([])
    story = [
        Paragraph(escape(title), styles["Title"]),
        Paragraph(escape(subtitle), styles["Normal"]),
    ]
    for section in filter(None, sections):
        width = max(len(r) for r in section)
        table = Table([r + [""] * (width - len(r)) for r in section], repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), font, 8),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4efe9")),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b5c4bc")),
                ]
            )
        )
        story += [Spacer(1, 10), table]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=title, invariant=1).build(story)
    return out.getvalue()
