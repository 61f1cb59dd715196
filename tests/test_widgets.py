"""ui/widgets.py: a long table is sent to the browser one page at a time, while its filter,
sort and downloads still cover every row; a light chart given as a builder is built again only
when its arguments change."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

AMOUNTS = [(i * 37) % 1000 for i in range(450)]


def _long_table() -> None:
    import pandas as pd

    from stripe_analytics.ui import widgets
    from tests.test_widgets import AMOUNTS

    frame = pd.DataFrame({"id": [f"cus_{i:04d}" for i in range(450)], "amount": AMOUNTS})
    widgets.table(frame, key="t", view="t", selectable=True)


def _shown(at: AppTest):
    return at.dataframe[0].value


def _note(at: AppTest) -> str:
    return next(c.value for c in at.caption if " rows" in c.value)


def test_a_long_table_is_sent_a_page_at_a_time_and_the_pager_walks_every_row():
    at = AppTest.from_function(_long_table).run()
    assert not at.exception
    assert list(_shown(at)["id"]) == [f"cus_{i:04d}" for i in range(200)]
    assert _note(at).startswith("450 rows · select a row to open it · rows 1–200 shown, page 1 of 3")
    at.number_input(key="t_page").set_value(3).run()
    assert list(_shown(at)["id"]) == [f"cus_{i:04d}" for i in range(400, 450)]
    assert "rows 401–450 shown, page 3 of 3" in _note(at)


def test_sorting_orders_every_page_and_starts_again_at_the_first():
    at = AppTest.from_function(_long_table).run()
    at.number_input(key="t_page").set_value(2).run()
    at.selectbox(key="t_sort").set_value("amount").run()  # descending by default
    assert at.number_input(key="t_page").value == 1
    assert _shown(at)["amount"].iloc[0] == 999 and _shown(at)["amount"].is_monotonic_decreasing
    at.number_input(key="t_page").set_value(3).run()
    assert list(_shown(at)["amount"]) == sorted(AMOUNTS, reverse=True)[400:]  # the lowest of all 450 rows


def _mixed_currency_table() -> None:
    import pandas as pd

    from stripe_analytics.ui import widgets

    frame = pd.DataFrame({"id": [f"py_{i:04d}" for i in range(450)], "currency": ["usd", "jpy"] * 225,
                          "amount": [123456 + i for i in range(450)]})
    widgets.table(frame, key="m", view="m", money=["amount"])


def test_every_page_shows_each_amount_in_its_own_currency():
    """Only the page sent is formatted: a later page's amounts are formatted like the first's."""
    at = AppTest.from_function(_mixed_currency_table).run()
    assert list(_shown(at)["amount"][:2]) == ["$1,234.56", "¥123,457"]
    at.number_input(key="m_page").set_value(3).run()
    assert list(_shown(at)["id"][:2]) == ["py_0400", "py_0401"]
    assert list(_shown(at)["amount"][:2]) == ["$1,238.56", "¥123,857"]


def test_a_short_table_has_no_pager():
    def short() -> None:
        import pandas as pd

        from stripe_analytics.ui import widgets

        widgets.table(pd.DataFrame({"id": ["a", "b"]}), key="s", view="s")

    at = AppTest.from_function(short).run()
    assert len(_shown(at)) == 2 and not at.number_input
    assert _note(at) == "2 rows"


def test_a_sparkline_is_coloured_as_streamlit_colours_the_delta():
    from stripe_analytics.ui.widgets import _tone

    assert _tone("+12.4%", "normal") == "up" and _tone("-3.0%", "normal") == "down"
    assert _tone("+0.6 pp", "inverse") == "down" and _tone("-0.1 pp", "inverse") == "up"  # churn rising is bad
    assert _tone("-21.3%", "off") == "off" and _tone(None, "normal") == "off" and _tone("", "normal") == "off"


BUILT: list[str] = []  # the title of each figure `counted_lines` built


def counted_lines(frame, x, series, *, title):
    """charts.lines, counting its calls (a module's function: widgets.chart keeps its drawing)."""
    from stripe_analytics import charts

    BUILT.append(title)
    return charts.lines(frame, x, series, title=title)


def _kept_chart() -> None:
    from functools import partial

    import pandas as pd
    import streamlit as st

    from stripe_analytics.ui import widgets
    from tests.test_widgets import counted_lines

    title = st.session_state.setdefault("title", "Kept chart")
    frame = pd.DataFrame({"month": ["2026-01", "2026-02", "2026-03"], "mrr": st.session_state.get("mrr", [1, 2, 3])})
    widgets.chart(partial(counted_lines, frame, "month", {"mrr": "MRR"}, title=title), frame, key="kept", view="mrr",
                  light=True)


def _drawn_mrr(at: AppTest) -> list[float]:
    from tests.test_app import vega_rows

    return list(vega_rows(at.get("vega_lite_chart")[0])["y"])


def test_a_light_chart_is_built_again_only_when_its_arguments_change():
    import uuid

    BUILT.clear()
    at = AppTest.from_function(_kept_chart)
    at.session_state["title"] = title = f"Kept chart {uuid.uuid4().hex}"  # nothing kept from another test
    at.run()
    assert not at.exception and BUILT == [title] and _drawn_mrr(at) == [1, 2, 3]
    at.run()
    assert BUILT == [title] and _drawn_mrr(at) == [1, 2, 3]  # the same table: the kept drawing
    at.session_state["mrr"] = [4, 5, 7]
    at.run()
    assert BUILT == [title, title] and _drawn_mrr(at) == [4, 5, 7]  # new figures: built and drawn


def test_only_a_module_function_bound_to_all_it_reads_is_kept():
    from functools import partial

    from stripe_analytics import charts
    from stripe_analytics.ui.widgets import _keepable

    def local_builder(frame):  # reads the page's variables too: its name does not say which figure
        return charts.lines(frame, "month", {"mrr": "MRR"})

    assert _keepable(partial(charts.lines, None, "month", {}))
    assert not _keepable(partial(local_builder, None))
    assert not _keepable(charts.lines(__import__("pandas").DataFrame({"month": [], "mrr": []}), "month", {"mrr": "MRR"}))
