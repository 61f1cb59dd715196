"""`widget_state.resend`: every run carries the widget's value to the browser, not only the run
that set it (a widget drawn late, its code still loading, would show its first option)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _app(resend: bool):
    def script(resend: bool) -> None:
        import streamlit as st

        from stripe_analytics.ui import widget_state

        if "pick" not in st.session_state:
            st.session_state["pick"] = "b"
        if resend:
            widget_state.resend(st.session_state, ["pick", "not_a_widget_yet"])
        st.selectbox("Pick", ["a", "b", "c"], key="pick")

    return AppTest.from_function(script, kwargs={"resend": resend}).run()


def test_every_run_sends_the_value_it_did_not_change():
    at = _app(resend=True)
    assert at.selectbox(key="pick").proto.set_value and at.selectbox(key="pick").value == "b"
    at.run()  # a run that changes nothing
    assert at.selectbox(key="pick").proto.set_value and at.selectbox(key="pick").value == "b"
    assert "not_a_widget_yet" not in at.session_state  # keys not set are left alone
    at.selectbox(key="pick").set_value("c").run()  # the analyst's own choice is what is sent back
    assert at.selectbox(key="pick").proto.set_value and at.selectbox(key="pick").value == "c"


def test_without_it_a_later_run_sends_no_value():
    at = _app(resend=False)
    at.run()
    assert not at.selectbox(key="pick").proto.set_value  # the browser keeps (or defaults) its own
