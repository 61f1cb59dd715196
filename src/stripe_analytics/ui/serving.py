"""What the server does once, before its first visitor (the `st.App` lifespan of serve.py):
warm up (`warmup.py`) and say on the console when the app is reachable by others without
sign-in. (Stored connections unused for SESSION_IDLE_DAYS are dropped by `live_server`, at
start and every hour.)"""

from __future__ import annotations

import contextlib
import logging
import sys

from . import signin, warmup

LOG = logging.getLogger("stripe_analytics.serve")


def startup_checks() -> None:
    warning = signin.exposure().warning()
    if warning:
        LOG.warning("%s", warning)
        print(f"  WARNING: {warning}", file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def lifespan(app):
    startup_checks()
    async with warmup.lifespan(app):
        yield
