"""Number formatting of tiles and tables (stripe_analytics.ui.format)."""

from stripe_analytics.ui.format import delta_text


def test_a_delta_that_rounds_to_nothing_is_unsigned_and_flat():
    nil = delta_text(0.04001, 0.04, kind="points")
    assert nil == "0.0 pp" and nil.flat
    assert delta_text(0.0399, 0.04, kind="points") == "0.0 pp"
    assert delta_text(100.02, 100) == "0.0%" and delta_text(100.02, 100).flat
    moved = delta_text(0.05, 0.04, kind="points")
    assert moved == "+1.0 pp" and not moved.flat
    assert delta_text(90, 100) == "-10.0%" and not delta_text(90, 100).flat
    assert delta_text(5, 0) == "new" and not delta_text(5, 0).flat
