"""Pictures of time series: a terminal strip chart and a standalone SVG.

Both draw, per series (a host, or a group of hosts), the load's CPU,
resident memory, GPU and GPU memory over time.  Values are scaled to the
series' capacity when it is known (100% = all cores, all RAM, all cards)
and to the largest value otherwise, and the scale is printed with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

BLOCKS = " ▁▂▃▄▅▆▇█"
METRICS = (("cpu", "CPU %"), ("res", "RAM GiB"), ("gpu", "GPU %"), ("gpumem", "GPU RAM GiB"))
PALETTE = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd")


@dataclass(frozen=True)
class Series:
    """One chart panel: its name, times (epoch s), values per metric and full scales."""

    name: str
    times: list[int]
    values: dict[str, list[float]]
    # Value that draws as a full bar, per metric (capacity, or the largest value).
    scale: dict[str, float]
    scale_label: dict[str, str]


def _stamp(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _cell(value: float, scale: float) -> str:
    if scale <= 0 or value <= 0:
        return BLOCKS[0] if value <= 0 else BLOCKS[1]
    level = round(min(value / scale, 1.0) * (len(BLOCKS) - 1))
    return BLOCKS[max(level, 1)]


def _squeeze(values: list[float], width: int) -> list[float]:
    """At most `width` columns; each the largest of the values it stands for (peaks stay)."""
    if len(values) <= width:
        return values
    out = []
    for i in range(width):
        lo, hi = i * len(values) // width, (i + 1) * len(values) // width
        out.append(max(values[lo:max(hi, lo + 1)]))
    return out


def terminal(panels: list[Series], width: int = 72) -> str:
    """One block per series: a strip per metric, with its time span and scale."""
    lines: list[str] = []
    for p in panels:
        if not p.times:
            continue
        lines.append(f"{p.name}  {_stamp(p.times[0])} .. {_stamp(p.times[-1])}  "
                     f"({len(p.times)} points)")  # fmt: skip
        for key, label in METRICS:
            values = p.values[key]
            strip = "".join(_cell(v, p.scale[key]) for v in _squeeze(values, width))
            lines.append(f"  {label:<12}|{strip}| max {max(values):g}, full = {p.scale_label[key]}")
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "")


def svg(panels: list[Series], width: int = 900, panel_height: int = 160) -> str:
    """A standalone SVG document: one panel per series, a line per metric."""
    left, right, top, gap = 60, 20, 30, 50
    plot_w = width - left - right
    height = top + len(panels) * (panel_height + gap)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']  # fmt: skip
    legend_x = left
    for (_, label), color in zip(METRICS, PALETTE, strict=True):
        out.append(f'<text x="{legend_x}" y="18" fill="{color}">{escape(label)}</text>')
        legend_x += 120
    for i, p in enumerate(panels):
        y0 = top + i * (panel_height + gap) + 15
        out.append(f'<text x="{left}" y="{y0 - 4}" font-weight="bold">{escape(p.name)}</text>')
        out.append(f'<rect x="{left}" y="{y0}" width="{plot_w}" height="{panel_height}" '
                   'fill="none" stroke="#999"/>')  # fmt: skip
        for frac, text in ((0.0, "100%"), (1.0, "0")):
            out.append(f'<text x="{left - 6}" y="{y0 + frac * panel_height + 4}" '
                       f'text-anchor="end">{text}</text>')  # fmt: skip
        if not p.times:
            continue
        t0, t1 = p.times[0], p.times[-1]
        span = max(t1 - t0, 1)
        for (key, _), color in zip(METRICS, PALETTE, strict=True):
            scale = p.scale[key] or 1.0
            points = " ".join(
                f"{left + (t - t0) / span * plot_w:.1f},"
                f"{y0 + panel_height - min(v / scale, 1.0) * panel_height:.1f}"
                for t, v in zip(p.times, p.values[key], strict=True)
            )
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                       f'points="{points}"/>')  # fmt: skip
        y_axis = y0 + panel_height + 14
        out.append(f'<text x="{left}" y="{y_axis}">{_stamp(t0)}</text>')
        out.append(f'<text x="{left + plot_w}" y="{y_axis}" text-anchor="end">{_stamp(t1)}</text>')
        scales = ", ".join(f"{label} 100% = {p.scale_label[key]}" for key, label in METRICS)
        out.append(f'<text x="{left}" y="{y_axis + 14}" fill="#555">{escape(scales)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
