"""Small server-rendered SVG charts (the CSP allows no inline script or style, and the page must
work offline): bars, lines and a funnel. Colours are SVG presentation attributes, not `style`.

Each chart is decoration for its numbers: the page shows the same figures in a table, and the
SVG carries a <title> for screen readers. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 12, 12, 28
PALETTE = ("#2d7d52", "#2d5bb9", "#c0711f", "#8a3fa0", "#a12020", "#4a6670")


def _frame(title: str, body: list[str], *, height: int = HEIGHT) -> Markup:
    return Markup(  # noqa: S704 - every text in it went through escape()
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _nice_max(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least the value."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    while step > value:
        step /= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def _axes(top: float, labels: Sequence[str], fmt) -> list[str]:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    out = []
    for frac in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - frac)
        out.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#d5ddd9" stroke-width="1"/>'
            f'<text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
            f'fill="#555">{escape(fmt(top * frac))}</text>'
        )
    if labels:
        step = max(1, len(labels) // 6)  # at most ~7 x labels
        slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / len(labels)
        for i in range(0, len(labels), step):
            x = PAD_LEFT + slot * (i + 0.5)
            out.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="10" '
                f'fill="#555">{escape(labels[i])}</text>'
            )
    return out


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2f}"


def bars(title: str, labels: Sequence[str], values: Sequence[float], *, fmt=_number) -> Markup:
    """One bar per label (e.g. per day)."""
    top = _nice_max(max(values, default=0))
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(1, len(values))
    body = _axes(top, labels, fmt)
    for i, value in enumerate(values):
        h = plot_h * value / top
        body.append(
            f'<rect x="{PAD_LEFT + slot * i + slot * 0.15:.1f}" y="{PAD_TOP + plot_h - h:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{PALETTE[0]}">'
            f"<title>{escape(labels[i])}: {escape(fmt(value))}</title></rect>"
        )
    return _frame(title, body)


def lines(
    title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], *, fmt=_number
) -> Markup:
    """One line per series over the labels; None leaves a gap. A legend names the colours."""
    values = [v for s in series.values() for v in s if v is not None]
    top = _nice_max(max(values, default=0))
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(1, len(labels))
    body = _axes(top, labels, fmt)
    for n, (name, points) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        segment: list[str] = []
        for i, value in enumerate(points):
            if value is None:
                body.append(_polyline(segment, colour))
                segment = []
                continue
            x, y = PAD_LEFT + slot * (i + 0.5), PAD_TOP + plot_h * (1 - value / top)
            segment.append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(name)} {escape(labels[i])}: {escape(fmt(value))}</title>"
                "</circle>"
            )
        body.append(_polyline(segment, colour))
        body.append(
            f'<rect x="{PAD_LEFT + 8 + 110 * n}" y="2" width="10" height="10" fill="{colour}"/>'
            f'<text x="{PAD_LEFT + 22 + 110 * n}" y="11" font-size="10" fill="#333">'
            f"{escape(name)}</text>"
        )
    return _frame(title, body)


def _polyline(points: list[str], colour: str) -> str:
    if len(points) < 2:
        return ""
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"/>'


def funnel(title: str, steps: Sequence[tuple[str, int]]) -> Markup:
    """Horizontal bars, widest first, each with its count and share of the first step."""
    first = steps[0][1] if steps else 0
    row_h = 26
    height = PAD_TOP + row_h * len(steps) + 4
    usable = WIDTH - 140 - 90
    body = []
    for i, (label, count) in enumerate(steps):
        w = usable * count / first if first else 0
        y = PAD_TOP + row_h * i
        share = f" ({100 * count / first:.0f}%)" if first else ""
        body.append(
            f'<text x="130" y="{y + 16}" text-anchor="end" font-size="12" fill="#333">'
            f"{escape(label)}</text>"
            f'<rect x="140" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{PALETTE[1]}"/>'
            f'<text x="{140 + w + 6:.1f}" y="{y + 16}" font-size="12" fill="#333">'
            f"{count}{share}</text>"
        )
    return _frame(title, body, height=height)
