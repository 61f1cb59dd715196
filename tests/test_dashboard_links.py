"""dashboard_links.py: the Dashboard address of an object, in test or live mode, with the
account id when it is known, and none for the demo or for what is not a Stripe id."""

from __future__ import annotations

from stripe_analytics.dashboard_links import dashboard_url


def test_dashboard_paths_for_live_test_unknown_and_demo_accounts():
    assert dashboard_url("customer", "cus_9", livemode=False) == "https://dashboard.stripe.com/test/customers/cus_9"
    assert dashboard_url("customer", "cus_9", livemode=True) == "https://dashboard.stripe.com/customers/cus_9"
    assert (dashboard_url("charge", "ch_9", livemode=True, account_id="acct_1Abc")
            == "https://dashboard.stripe.com/acct_1Abc/payments/ch_9")
    assert dashboard_url("customer", "cus_9", livemode=False, account_id="acct_unknown") == \
        "https://dashboard.stripe.com/test/customers/cus_9"
    assert dashboard_url("customer", "cus_9", livemode=False, demo=True) is None
    assert dashboard_url("customer", "../x", livemode=False) is None
    assert dashboard_url("balance_transaction", "txn_1", livemode=False) is None
