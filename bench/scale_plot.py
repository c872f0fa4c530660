"""bench.scale's plot: cold ask, its RSS and warm p95 against chunks (log x), drawn with Pillow.

matplotlib (the `bench` extra) is not in the venv `make setup` builds; Pillow is (fpdf2, a dev dependency,
needs it), so the three panels are drawn by hand rather than adding a dependency for one figure.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# The cold-start target is relative (1.3x the seed store's, at 100k chunks): filled in from the seed row.
PANELS = (
    ("cold `citebot ask`, s (median)", "cold_ask_s", ("target at 100k: 1.3x seed", 1.3)),
    ("peak RSS of that ask, MB", "cold_ask_rss_mb", ("target at 1M: 1500", 1500.0)),
    ("warm answer p95, ms", "warm_ms_p95", ("target at 1M: 150", 150.0)),
)
WIDTH, HEIGHT, MARGIN = 460, 340, 58
LINE, TARGET, SEED, GRID, INK = (31, 119, 180), (214, 39, 40), (44, 160, 44), (225, 225, 225), (40, 40, 40)


def _nice_step(top: float) -> float:
    raw = top / 5
    power = 10.0 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw))


def _label(chunks: float) -> str:
    if chunks >= 1e6:
        return f"{chunks / 1e6:g}M"
    return f"{chunks / 1e3:g}k" if chunks >= 1e3 else f"{chunks:g}"


def _panel(draw: Any, font: Any, left: int, rows: list[dict[str, Any]], panel: tuple[Any, ...]) -> None:
    title, key, target = panel
    if key == "cold_ask_s" and target:
        seed = next((float(r[key]) for r in rows if r["store"] == "seed"), None)
        target = (target[0], target[1] * seed) if seed else None
    points = [(float(r["chunks"]), float(r[key]), r["store"] == "seed") for r in rows]
    x_low = 10 ** math.floor(math.log10(min(p[0] for p in points)))
    x_high = 10 ** math.ceil(math.log10(max(p[0] for p in points)))
    top = max([p[1] for p in points] + ([target[1]] if target else [])) * 1.15
    step = _nice_step(top)
    top = step * math.ceil(top / step)
    plot_left, plot_right = left + MARGIN, left + WIDTH - 18
    plot_top, plot_bottom = 34, HEIGHT - 44

    def at(x: float, y: float) -> tuple[float, float]:
        fraction = (math.log10(x) - math.log10(x_low)) / (math.log10(x_high) - math.log10(x_low))
        height = plot_bottom - plot_top
        return plot_left + fraction * (plot_right - plot_left), plot_bottom - y / top * height

    draw.text((left + MARGIN, 8), title, fill=INK, font=font)
    for i in range(round(top / step) + 1):
        _, y = at(x_low, i * step)
        draw.line([(plot_left, y), (plot_right, y)], fill=GRID)
        draw.text((left + 6, y - 7), f"{i * step:g}", fill=INK, font=font)
    decade = x_low
    while decade <= x_high:
        x, _ = at(decade, 0)
        draw.line([(x, plot_top), (x, plot_bottom)], fill=GRID)
        draw.text((x - 12, plot_bottom + 6), _label(decade), fill=INK, font=font)
        decade *= 10
    draw.text((plot_left + 60, plot_bottom + 24), "chunks in the store (log scale)", fill=INK, font=font)
    draw.rectangle([plot_left, plot_top, plot_right, plot_bottom], outline=INK)
    if target:
        _, y = at(x_low, target[1])
        for x in range(plot_left, plot_right, 12):
            draw.line([(x, y), (min(x + 6, plot_right), y)], fill=TARGET, width=2)
        # At the right end: the seed store's point is at the left, often just under the cold-start target.
        width = draw.textlength(target[0], font=font)
        draw.text((plot_right - 6 - width, y - 18), target[0], fill=TARGET, font=font)
    line = [at(x, y) for x, y, seed in points if not seed]
    if len(line) > 1:
        draw.line(line, fill=LINE, width=2)
    for x, y, seed in points:
        cx, cy = at(x, y)
        draw.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=SEED if seed else LINE)
        text = ("seed " if seed else "") + f"{y:g}"
        # A label at the right edge goes to the left of its point, inside the panel.
        tx = cx + 6 if cx + 60 < plot_right else cx - 8 - draw.textlength(text, font=font)
        draw.text((tx, cy - 16), text, fill=SEED if seed else LINE, font=font)


def write_plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """The three panels side by side as a PNG at path; None (nothing written) without Pillow."""
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        return None
    image = Image.new("RGB", (WIDTH * len(PANELS), HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    for i, panel in enumerate(PANELS):
        _panel(draw, font, i * WIDTH, rows, panel)
    image.save(path)
    return path
