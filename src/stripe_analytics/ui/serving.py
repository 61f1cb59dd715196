"""What the server does once, before its first visitor (the `st.App` lifespan of serve.py):
warm up (`warmup.py`), say on the console when the app is reachable by others without
sign-in, and drop stored connections unused for SESSION_IDLE_DAYS."""

from __future__ import annotations

import contextlib
import logging
import sys

from ..config import SettingsError, load_settings
from ..connection_store import ConnectionStore, StoreKeyError
from . import signin, warmup

LOG = logging.getLogger("stripe_analytics.serve")


def startup_checks() -> None:
    warning = signin.exposure().warning()
    if warning:
        LOG.warning("%s", warning)
        print(f"  WARNING: {warning}", file=sys.stderr, flush=True)
    try:
        ConnectionStore(load_settings()).purge_expired()
    except (SettingsError, StoreKeyError) as error:
        LOG.warning("stored connections were not checked: %s", error)


@contextlib.asynccontextmanager
async def lifespan(app):
    startup_checks()
    async with warmup.lifespan(app):
        yield
