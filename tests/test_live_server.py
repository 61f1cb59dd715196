"""What serve.py's lifespan runs beside the app (ui/live_server.py): here, the purge of stored
connections left idle while the server keeps running."""

from __future__ import annotations

import json
import time

from pydantic import SecretStr

from stripe_analytics.config import load_settings
from stripe_analytics.connection import Connection
from stripe_analytics.connection_store import STORE_FILE, ConnectionStore, holder_for_browser, new_session_id
from stripe_analytics.ui.live_server import LiveServer
from tests.test_connected_sync import clean_env  # noqa: F401 - autouse: no setting from the environment

KEY = "rk_test_left_idle_while_serving_01"
DAY = 86400


def key_connection(account: str) -> Connection:
    return Connection(kind="restricted_key", account_id=account, livemode=False, key=SecretStr(KEY),
                      profile={"name": "Idle Co"})


def stored_holders(settings) -> set[str]:
    store = ConnectionStore(settings)
    entries = json.loads((settings.data_dir / STORE_FILE).read_text())["entries"]
    return {store._decrypt(token)["holder"] for token in entries.values()}


def test_connections_left_idle_while_the_server_runs_are_dropped_without_a_restart(tmp_path):
    settings = load_settings(data_dir=tmp_path, session_idle_days=14, sync_interval_minutes=0)
    server = LiveServer(settings, purge_interval=0.3).start()
    try:
        active, idle = holder_for_browser(new_session_id()), holder_for_browser(new_session_id())
        ConnectionStore(settings).save(active, key_connection("acct_active"))
        # Saved (so last used) 15 days ago, after the server started: only a purge while it
        # runs can drop it.
        ConnectionStore(settings, now=lambda: time.time() - 15 * DAY).save(idle, key_connection("acct_idle"))
        assert stored_holders(settings) == {active, idle}
        deadline = time.monotonic() + 20
        while idle in stored_holders(settings) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stored_holders(settings) == {active}
        assert server.purge.snapshot().last_ok_at is not None
    finally:
        server.stop()
