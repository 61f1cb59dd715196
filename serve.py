"""Stripe Analytics' server (`make run` runs `streamlit run serve.py`): the dashboard
`app.py`, started the way it should be served.

Before accepting its first connection the server imports what the pages need and computes
the default account's Overview (`stripe_analytics.ui.warmup`) and warns on the console when it
is reachable by others without sign-in (`stripe_analytics.ui.serving`). Its middleware gives
each browser its opaque session cookie (`stripe_analytics.server_session`) and writes the
Overview's header and KPI tiles into its page (`stripe_analytics.ui.first_view`). It also serves live
data (`stripe_analytics.ui.live_server`): Stripe webhooks on `POST /webhooks/stripe`,
`GET /healthz`, and the scheduled incremental sync (also under `server.baseUrlPath` when one
is set); and it drops stored connections unused
for SESSION_IDLE_DAYS, at start and every hour.
`streamlit run app.py` still works, without these.
"""

import streamlit as st
from starlette.middleware import Middleware

from stripe_analytics.server_session import SessionCookieMiddleware
from stripe_analytics.ui.first_view import FirstViewMiddleware
from stripe_analytics.ui.live_server import ROUTES, UnderBasePath, lifespan

app = st.App("app.py", lifespan=lifespan, routes=ROUTES, middleware=[Middleware(UnderBasePath),
                                                                     Middleware(SessionCookieMiddleware),
                                                                     Middleware(FirstViewMiddleware)])
