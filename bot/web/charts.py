"""Charts drawn on the server as inline SVG: no script, no download, crisp on a phone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

from markupsafe import Markup

CREATED_COLOUR = "#b71c1c"
RESOLVED_COLOUR = "#2e7d32"


def _nice_max(v: int) -> int:
    """The top of the axis: four equal whole steps of 1, 2 or 5 times a power of ten."""
    base = 1
    while True:
        for m in (1, 2, 5):
            if base * m * 4 >= v:
                return base * m * 4
        base *= 10


def trend_svg(days: Sequence[date], created: Sequence[int], resolved: Sequence[int]) -> Markup:
    """A line chart of tickets reported and resolved per day."""
    w, h, left, right, top, bottom = 480, 200, 30, 18, 14, 28
    n = len(days)
    ymax = _nice_max(max([*created, *resolved, 1]))
    pw, ph = w - left - right, h - top - bottom

    def x(i: int) -> float:
        return left + (pw * i / max(1, n - 1))

    def y(v: int) -> float:
        return top + ph - ph * v / ymax

    parts = [
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="近30天工单趋势" '
        'xmlns="http://www.w3.org/2000/svg" font-size="11">'
    ]
    for k in range(5):
        v = ymax * k // 4
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e3e3e3"/>'
            f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#777">{v}</text>'
        )
    for i, d in enumerate(days):
        if i % 5 == 0 or i == n - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{h - 10}" text-anchor="middle" fill="#777">'
                f"{d.month}/{d.day}</text>"
            )
    for series, colour, label in (
        (created, CREATED_COLOUR, "新报"),
        (resolved, RESOLVED_COLOUR, "办结"),
    ):
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series))
        parts.append(
            f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{label}</title></polyline>"
        )
        for i, v in enumerate(series):
            if v:
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                    f"<title>{days[i].isoformat()} {label} {v}</title></circle>"
                )
    parts.append(
        f'<rect x="{left + 8}" y="{top}" width="10" height="10" fill="{CREATED_COLOUR}"/>'
        f'<text x="{left + 22}" y="{top + 9}">新报</text>'
        f'<rect x="{left + 58}" y="{top}" width="10" height="10" fill="{RESOLVED_COLOUR}"/>'
        f'<text x="{left + 72}" y="{top + 9}">办结</text></svg>'
    )
    return Markup("".join(parts))


def bars_svg(items: Sequence[tuple[str, int]], label: str = "按类别") -> Markup:
    """A horizontal bar chart of counts by label."""
    row, left, w = 26, 72, 480
    h = max(1, len(items)) * row + 10
    vmax = max([v for _, v in items] + [1])
    parts = [
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{escape(label)}" '
        'xmlns="http://www.w3.org/2000/svg" font-size="13">'
    ]
    if not items:
        parts.append('<text x="10" y="22" fill="#777">本期暂无工单</text>')
    for i, (name, v) in enumerate(items):
        top = 5 + i * row
        bw = (w - left - 50) * v / vmax
        parts.append(
            f'<text x="{left - 6}" y="{top + 15}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{left}" y="{top + 3}" width="{bw:.1f}" height="{row - 8}" rx="3" '
            f'fill="{CREATED_COLOUR}"><title>{escape(name)} {v}</title></rect>'
            f'<text x="{left + bw + 6:.1f}" y="{top + 15}" fill="#444">{v}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
