"""Stripe Analytics' server (`make run` runs `streamlit run serve.py`): the dashboard
`app.py`, started the way it should be served.

Before accepting its first connection the server imports what the pages need and computes
the default account's Overview (`stripe_analytics.ui.warmup`), so the first visitor's page is
drawn from warm caches. `streamlit run app.py` still works, without that warm-up.
"""

import streamlit as st

from stripe_analytics.ui.warmup import lifespan

app = st.App("app.py", lifespan=lifespan)
