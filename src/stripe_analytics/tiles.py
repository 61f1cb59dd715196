"""A KPI tile as one piece of HTML: label (with its hover text), value, the change against the
period before (arrow, colour, what it is compared with) and an optional sparkline.

Why not `st.metric`: on a visit's first run the browser loads each kind of element's code when
the first one arrives and shows it as a placeholder meanwhile, and React then reveals waiting
elements at most every 500 ms while any is still waiting, so the tiles, in the middle of a run
whose sidebar widgets and later elements arrive in several batches, came on screen 0.5-0.6 s
after they arrived. A tile of plain HTML (drawn by `st.html`, whose code the page's stylesheet
loads first of all) is shown with the batch it arrives in. The look (`ui/theme.py`) follows
Streamlit's bordered metric."""

from __future__ import annotations

import base64
from html import escape
from typing import NamedTuple, Sequence

TONES = ("up", "down", "off")  # green, red, grey (as Streamlit colours a metric's delta)


class Sparkline(NamedTuple):
    """A tile's trend: the SVG drawn (`charts.sparkline_svg`, markup of our own), the values its
    points show on hover, and its height in pixels."""
    svg: str
    values: Sequence[float]
    height: int


def tile_html(label: str, value: str, *, delta: str | None = None, tone: str = "off", arrow: str | None = None,
              description: str | None = None, help: str | None = None, sparkline: Sparkline | None = None,
              inline: bool = False) -> str:
    """The tile's HTML. `tone`: the delta's colour (`TONES`); `arrow`: "up", "down" or None (no
    arrow); `help`: plain text shown when the label's "?" is hovered or focused; `inline`: the
    sparkline as an SVG element instead of an image (where no sanitiser removes SVG: the browser
    draws it without the document of its own an SVG image costs, ~10 ms each on a fresh
    browser). Every text is escaped."""
    if tone not in TONES:
        raise ValueError(f"tone must be one of {TONES}, not {tone!r}")
    parts = ['<div class="sa-tile" data-testid="saTile">',
             f'<div class="sa-tile-label" data-testid="saTileLabel"><span>{escape(label)}</span>']
    if help:
        parts.append(f'<span class="sa-tile-help" tabindex="0" role="img" aria-label="{escape(help)}" '
                     f'data-help="{escape(help)}">?</span>')
    parts.append(f'</div><div class="sa-tile-value" data-testid="saTileValue">{escape(str(value))}</div>')
    if delta:
        mark = {"up": "↑ ", "down": "↓ "}.get(arrow or "", "")
        parts.append(f'<div class="sa-tile-change"><span class="sa-tile-delta sa-{tone}" data-testid="saTileDelta">'
                     f'{mark}{escape(str(delta))}</span>')
        if description:
            parts.append(f'<span class="sa-tile-vs">{escape(description)}</span>')
        parts.append('</div>')
    if sparkline is not None:
        parts.append(_sparkline(sparkline, inline))
    parts.append('</div>')
    return "".join(parts)


def _sparkline(sparkline: Sparkline, inline: bool) -> str:
    """The sparkline as an image (`st.html` keeps no SVG element) or an SVG element, under one
    strip a point whose hover text is the point's value."""
    svg, points = sparkline.svg, [f"{value:,.6g}" for value in sparkline.values]
    described = escape("Trend: " + ", ".join(points))
    if inline:
        drawn = svg.replace("<svg ", f'<svg width="100%" height="100%" role="img" aria-label="{described}" ', 1)
    else:
        if "xmlns=" not in svg:
            svg = svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
        source = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
        drawn = f'<img class="sa-spark" src="{source}" alt="{described}">'
    strips = "".join(f'<span title="{escape(point)}"></span>' for point in points)
    return (f'<div class="sa-spark-box" style="height: {int(sparkline.height)}px">{drawn}'
            f'<div class="sa-spark-points">{strips}</div></div>')


def row_html(cells: Sequence[Sequence[str]]) -> str:
    """Tiles side by side, as `st.columns` places them: one cell per column, each holding its
    tiles (`tile_html`) one under the other (`ui/theme.py`: `.sa-tile-row`)."""
    if not 1 <= len(cells) <= 4:
        raise ValueError(f"a row holds 1 to 4 cells, not {len(cells)}")
    return (f'<div class="sa-tile-row sa-tiles-{len(cells)}">'
            + "".join(f'<div class="sa-tile-cell">{"".join(tiles)}</div>' for tiles in cells) + "</div>")
