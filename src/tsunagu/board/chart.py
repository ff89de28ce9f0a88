"""The completeness chart as inline SVG (no JavaScript): per file channel, the share of expected senders
accepted over time, a step line from the first day shown to the board's day."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

COLORS = {"home_care_report": "#2f6db5", "request_form": "#d9822b", "survey_return": "#3a8f4b"}
W, H, LEFT, RIGHT, TOP, BOTTOM = 760, 260, 48, 16, 16, 64


def _span(data: dict[str, Any]) -> tuple[dt.date, dt.date]:
    days = [dt.date.fromisoformat(p["date"]) for s in data["completeness"] for p in s["points"]]
    if data.get("schedule"):
        days.append(dt.date.fromisoformat(min(data["schedule"].values())))
    day = dt.date.fromisoformat(data["day"])
    start = min(days, default=day)
    end = max([*days, day])
    return start, max(end, start + dt.timedelta(days=1))


def completeness_svg(data: dict[str, Any]) -> str:
    start, end = _span(data)
    span = (end - start).days
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(day: dt.date) -> float:
        return round(LEFT + plot_w * (day - start).days / span, 1)

    def y(share: float) -> float:
        return round(TOP + plot_h * (1 - share), 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           f'aria-labelledby="chart-title" data-testid="completeness-chart">',
           '<title id="chart-title">受理済みの割合の推移 / Share of expected senders accepted over time</title>']
    for pct in (0, 25, 50, 75, 100):
        yy = y(pct / 100)
        out.append(f'<line x1="{LEFT}" y1="{yy}" x2="{W - RIGHT}" y2="{yy}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{yy + 4}" font-size="11" text-anchor="end">{pct}%</text>')
    base = y(0)
    out.append(f'<text x="{LEFT}" y="{base + 16}" font-size="11">{start.isoformat()}</text>')
    out.append(f'<text x="{W - RIGHT}" y="{base + 16}" font-size="11" text-anchor="end">{end.isoformat()}</text>')
    for i, series in enumerate(data["completeness"]):
        color = COLORS.get(series["id"], "#555")
        share, points = 0.0, [f"{x(start)},{y(0)}"]
        for p in series["points"]:
            day = dt.date.fromisoformat(p["date"])
            points.append(f"{x(day)},{y(share)}")
            share = float(p["share"])
            points.append(f"{x(day)},{y(share)}")
        points.append(f"{x(end)},{y(share)}")
        sid = escape(series["id"], quote=True)
        out.append(f'<polyline data-series="{sid}" fill="none" stroke="{color}" stroke-width="2" '
                   f'points="{" ".join(points)}"/>')
        ly, lx = base + 34, LEFT + i * 240
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="4" fill="{color}"/>')
        out.append(f'<text x="{lx + 16}" y="{ly - 4}" font-size="11">{escape(series["label_ja"])} '
                   f'{round(share * 100)}%</text>')
        out.append(f'<text x="{lx + 16}" y="{ly + 10}" font-size="10" fill="#666">{escape(series["label_en"])}</text>')
    out.append("</svg>")
    return "\n".join(out)
