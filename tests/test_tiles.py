"""A KPI tile's HTML (stripe_analytics.tiles): what the analyst reads on it, escaped."""

import base64
import re

import pytest

from stripe_analytics.charts import sparkline_svg
from stripe_analytics.tiles import Sparkline, row_html, tile_html
from tests.app_support import parse_tiles


def test_a_tile_shows_its_label_value_change_and_hover_text():
    [tile] = parse_tiles(tile_html("MRR", "$1,234.50", delta="+4.2%", tone="up", arrow="up",
                                   description="vs Oct 2026", help="MRR is …\n\nDefinitions: docs/metrics.md"))
    assert (tile.label, tile.value, tile.delta, tile.tone) == ("MRR", "$1,234.50", "↑ +4.2%", "up")
    assert tile.help == "MRR is …\n\nDefinitions: docs/metrics.md" and not tile.sparkline
    assert "vs Oct 2026" in tile_html("MRR", "$1", delta="+1%", description="vs Oct 2026")


def test_a_falling_figure_points_down_and_a_change_without_arrow_has_none():
    [down] = parse_tiles(tile_html("Churn", "3.0 %", delta="-0.4 pp", tone="up", arrow="down"))
    assert down.delta == "↓ -0.4 pp" and down.tone == "up"  # churn falling is good: green, arrow down
    [count] = parse_tiles(tile_html("Subscriptions", "4", delta="2 open", tone="off"))
    assert count.delta == "2 open" and count.tone == "off"
    [bare] = parse_tiles(tile_html("Cache size", "1.0 MB"))
    assert bare.delta is None and bare.help is None


def test_every_text_is_escaped():
    html = tile_html('<b>"x"</b>', "<script>alert(1)</script>", delta="+1 & more", tone="down", arrow="up",
                     help='say "hi" <now>')
    assert "<script>" not in html and "<b>" not in html
    [tile] = parse_tiles(html)
    assert (tile.label, tile.value, tile.help) == ('<b>"x"</b>', "<script>alert(1)</script>", 'say "hi" <now>')
    assert tile.delta == "↑ +1 & more"


def test_the_sparkline_is_an_svg_image_with_each_point_s_value_on_hover():
    """`st.html` keeps no SVG element (its sanitiser's HTML profile), an image it keeps."""
    svg = sparkline_svg([10, 20, 15], "area", "up")
    html = tile_html("MRR", "$1", sparkline=Sparkline(svg, [10.0, 20.0, 15.0], 56))
    [tile] = parse_tiles(html)
    assert tile.sparkline and "<svg" not in html and 'style="height: 56px"' in html
    source = re.search(r'<img class="sa-spark" src="data:image/svg\+xml;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(source).decode() == svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    assert re.findall(r'<span title="([^"]*)"></span>', html) == ["10", "20", "15"]
    assert 'alt="Trend: 10, 20, 15"' in html


def test_an_inline_sparkline_is_the_svg_itself_with_the_same_points():
    """Where no sanitiser runs (the Overview's first view), the SVG is drawn as an element."""
    svg = sparkline_svg([10, 20, 15], "area", "up")
    html = tile_html("MRR", "$1", sparkline=Sparkline(svg, [10.0, 20.0, 15.0], 56), inline=True)
    [tile] = parse_tiles(html)
    assert tile.sparkline and "<img" not in html and 'style="height: 56px"' in html
    assert svg.replace("<svg ", '<svg width="100%" height="100%" role="img" aria-label="Trend: 10, 20, 15" ', 1) in html
    assert re.findall(r'<span title="([^"]*)"></span>', html) == ["10", "20", "15"]


def test_an_unknown_tone_is_refused():
    with pytest.raises(ValueError, match="tone"):
        tile_html("MRR", "$1", delta="+1%", tone="green")


def test_a_row_keeps_each_column_s_tiles_in_their_place_and_order():
    """As `st.columns` places them: the account page's grid puts tile i in column i % 4, so its
    tiles read across the rows in their order."""
    tiles = [tile_html(f"T{i}", str(i)) for i in range(6)]
    row = row_html([tiles[0::4], tiles[1::4], tiles[2::4], tiles[3::4]])
    assert row.startswith('<div class="sa-tile-row sa-tiles-4">')
    cells = re.findall(r'<div class="sa-tile-cell">(.*?)</div>(?=<div class="sa-tile-cell">|</div>$)', row)
    assert [[t.value for t in parse_tiles(cell)] for cell in cells] == [["0", "4"], ["1", "5"], ["2"], ["3"]]
    sparse = row_html([tiles[:1], [], []])  # an empty place keeps its width, as an empty column does
    assert sparse.count('class="sa-tile-cell"') == 3 and [t.label for t in parse_tiles(sparse)] == ["T0"]


@pytest.mark.parametrize("cells", [0, 5])
def test_a_row_has_one_to_four_places(cells):
    with pytest.raises(ValueError, match="1 to 4"):
        row_html([[]] * cells)
