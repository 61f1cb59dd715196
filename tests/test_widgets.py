"""ui/widgets.py: a long table is sent to the browser one page at a time, while its filter,
sort and downloads still cover every row."""

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
