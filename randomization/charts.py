"""Server-rendered SVG charts of the simulation page: plain geometry for
templates/randomization/_histogram_svg.html (no script, so the Content-Security-Policy needs no
exception, and the chart is in the page as soon as it loads). No ORM."""

from __future__ import annotations

import math

COLOURS = {"blocks": "#0d6efd", "minimisation": "#fd7e14"}
WIDTH, HEIGHT = 520, 240
LEFT, RIGHT, TOP, BOTTOM = 46, 10, 14, 40


def histogram(series: list[tuple[str, str, list[dict]]], *, cap: int) -> dict:
    """Grouped bars: for each imbalance 0…cap (the last meaning "cap or more") one bar per
    series showing the share of values. `series` is [(key, label, histogram)], histogram as in
    randomization.simulation.distribution."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_share = max((h["share"] for _, _, hist in series for h in hist), default=0.0)
    # The y axis ends at the next 10 % above the highest bar (at least 10 %).
    y_max = max(0.1, math.ceil(top_share * 10 - 1e-9) / 10)
    groups = cap + 1
    group_w = plot_w / groups
    bar_w = group_w * 0.8 / max(1, len(series))
    bars, labels = [], []
    for g in range(groups):
        x0 = LEFT + g * group_w + group_w * 0.1
        labels.append({"x": round(LEFT + (g + 0.5) * group_w, 1), "text": f"≥{cap}" if g == cap else str(g)})
        for s, (key, label, hist) in enumerate(series):
            share = hist[g]["share"] if g < len(hist) else 0.0
            h = plot_h * share / y_max
            bars.append({"x": round(x0 + s * bar_w, 1), "y": round(TOP + plot_h - h, 1), "w": round(bar_w, 1),
                         "h": round(h, 1), "colour": COLOURS.get(key, "#6c757d"), "series": label,
                         "value": labels[-1]["text"], "percent": f"{100 * share:.1f}"})
    ticks = [{"y": round(TOP + plot_h - plot_h * f, 1), "text": f"{100 * y_max * f:.0f}%"} for f in (0, 0.5, 1)]
    legend = [{"x": LEFT + 8 + i * 200, "colour": COLOURS.get(key, "#6c757d"), "label": label}
              for i, (key, label, _) in enumerate(series)]
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
            "bottom": TOP + plot_h, "bars": bars, "labels": labels, "ticks": ticks, "legend": legend,
            "axis_y": HEIGHT - 6, "legend_y": TOP - 4}
