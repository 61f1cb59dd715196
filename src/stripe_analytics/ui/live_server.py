"""What `serve.py` adds to the Streamlit server for live data: the routes `POST /webhooks/stripe`,
`GET /healthz` and the open pages' `GET /live/<token>` (`live_state`), and, in the server's
lifespan, the webhook applier thread, the scheduled sync and the hourly purge of stored
connections left idle for SESSION_IDLE_DAYS. One process serves the app and writes webhooks, so each cache keeps a single writer
next to the sync child processes (all of them take the account's writer lock).

`streamlit run app.py` runs none of this; the app works the same without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import access, health, server_session
from ..config import Settings, SettingsError, load_settings
from ..connected_sync import sync_connected
from ..connection_store import STORE_FILE, ConnectionStore, StoreKeyError
from ..scheduler import Outcome, SyncOutcome, SyncScheduler
from ..webhooks import MAX_BODY_BYTES, PATH, WebhookApplier, WebhookRejected, verify

LOG = logging.getLogger("stripe_analytics.live")

SYNC_JOB_TIMEOUT = 6 * 3600.0
# How often the server drops stored connections left unused for SESSION_IDLE_DAYS (and
# deauthorizes their Connect access) while it runs; the first round is at start.
PURGE_INTERVAL = 3600.0
# Threads that store received events: the more wait together, the more one fsync covers.
_RECEIVERS = ThreadPoolExecutor(64, thread_name_prefix="webhook-receive")


class LiveServer:
    """The server's live-data parts, started and stopped by the lifespan."""

    def __init__(self, settings: Settings, *, purge_interval: float = PURGE_INTERVAL):
        self.settings = settings
        self.applier = WebhookApplier(settings)
        self.scheduler: SyncScheduler | None = None
        # The schedule syncs as the operator (whoever runs the server), with the configured key only.
        scheduled = access.operator_credentials(settings, "sync")
        if settings.sync_interval_minutes and scheduled.route == "configured":
            self.scheduler = SyncScheduler(settings.sync_interval_minutes * 60, self._scheduled_sync)
        # Accounts connected on the Connect page sync on the same interval, with their holders' connections.
        self.connected: SyncScheduler | None = None
        self.connected_synced: frozenset[str] = frozenset()
        if settings.sync_interval_minutes:
            self.connected = SyncScheduler(settings.sync_interval_minutes * 60, self._scheduled_connected_sync)
        self.purge = SyncScheduler(purge_interval, self._purge_idle_connections)

    def start(self) -> "LiveServer":
        threading.Thread(target=self._resolve_home, name="home-account", daemon=True).start()
        self.applier.start()
        for scheduler in (self.scheduler, self.connected):
            if scheduler is not None:
                scheduler.start()
        self.purge.start(first_delay=0)
        return self

    def stop(self) -> None:
        for scheduler in (self.scheduler, self.connected, self.purge):
            if scheduler is not None:
                scheduler.stop()
        self.applier.stop()

    def _resolve_home(self) -> None:
        try:
            self.applier.router.home_account()
        except Exception as error:  # noqa: BLE001 - retried when an event or the schedule needs it
            LOG.warning("the configured key's account is not known yet (%s)", type(error).__name__)

    def health(self) -> tuple[int, dict]:
        schedule = self.scheduler.snapshot() if self.scheduler is not None else None
        router = self.applier.router
        connected = self.connected.snapshot() if self.connected is not None else None
        return health.report(self.settings, applier=self.applier, schedule=schedule,
                             home_account=router.known_configured, platform_account=router.known_home,
                             connected_schedule=connected, connected_scheduled=self.connected_synced)

    def _scheduled_sync(self) -> SyncOutcome:
        """One incremental sync of the configured account, as the Data page's "Sync now" runs it
        (a child process; the same job, so the page shows its progress)."""
        from .. import sync_jobs

        path = None
        with contextlib.suppress(Exception):
            configured = self.applier.router.configured_account()
            candidate = Path(self.settings.data_dir) / f"{configured}.duckdb" if configured else None
            path = candidate if candidate is not None and candidate.exists() else None
        return sync_jobs.outcome_of(sync_jobs.start_configured(path), SYNC_JOB_TIMEOUT)


    def _scheduled_connected_sync(self) -> SyncOutcome:
        """One round over the accounts connected on the Connect page (nothing to do until
        someone connected one: the connection store does not exist yet)."""
        if not (Path(self.settings.data_dir) / STORE_FILE).exists():
            return SyncOutcome(Outcome.ok, "no connected accounts")
        try:
            store = ConnectionStore(self.settings)
        except StoreKeyError as error:
            return SyncOutcome(Outcome.failed, str(error))
        result, outcomes = sync_connected(self.settings, store, sign_in_configured=server_session.sign_in_configured(),
                                          timeout=SYNC_JOB_TIMEOUT)
        self.connected_synced = frozenset(outcomes)
        return result


    def _purge_idle_connections(self) -> SyncOutcome:
        """Drop the stored connections nobody used for SESSION_IDLE_DAYS: a server that runs for
        weeks keeps no abandoned key or token, and Connect access ends when its holders leave."""
        if not (Path(self.settings.data_dir) / STORE_FILE).exists():
            return SyncOutcome(Outcome.ok, "no stored connections")
        try:
            dropped = ConnectionStore(self.settings).purge_expired()
        except StoreKeyError as error:
            return SyncOutcome(Outcome.failed, str(error))
        return SyncOutcome(Outcome.ok, f"{dropped} idle connection(s) dropped")


_CURRENT: LiveServer | None = None
_CURRENT_LOCK = threading.Lock()


def current() -> LiveServer | None:
    """The running server's live parts (None under a plain `streamlit run app.py`)."""
    return _CURRENT


# ----------------------------------------------------------------------------- routes

def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


async def stripe_webhook(request: Request) -> JSONResponse:
    server = _CURRENT
    if server is None:
        return _error(503, "the server is starting")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _error(415, "the body must be application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return _error(413, "the body is larger than 1 MiB") if declared.isdigit() else _error(400, "bad length")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(413, "the body is larger than 1 MiB")
    except ClientDisconnect:
        return _error(400, "the request was cut off")
    try:
        event = verify(bytes(body), request.headers.get("stripe-signature"), server.settings.webhook_secrets)
    except WebhookRejected as rejected:
        return _error(rejected.status, rejected.reason)
    try:
        await asyncio.get_running_loop().run_in_executor(_RECEIVERS, server.applier.receive, event)
    except OSError as error:
        LOG.error("a verified webhook could not be queued: %s", error)
        return _error(503, "the event could not be stored; Stripe will send it again")
    return JSONResponse({"received": True, "id": event.id})


async def healthz(_request: Request) -> JSONResponse:
    server = _CURRENT
    if server is None:
        return _error(503, "the server is starting")
    status, body = await asyncio.to_thread(server.health)
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def live_state_of(request: Request) -> JSONResponse:
    """An open page's question: has its account's data moved on (`live_state`)."""
    from . import live_state

    answer = await asyncio.to_thread(live_state.state, request.path_params["token"])
    if answer is None:
        return _error(404, "unknown page")
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


async def post_only(_request: Request) -> JSONResponse:
    return JSONResponse({"error": "only POST is served here"}, status_code=405, headers={"Allow": "POST"})


# The second route answers other methods itself; otherwise the app's page route would serve them.
ROUTES = [Route(PATH, stripe_webhook, methods=["POST"]),
          Route(PATH, post_only, methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS"]),
          Route("/healthz", healthz, methods=["GET"]),
          Route("/live/{token}", live_state_of, methods=["GET"])]


class UnderBasePath:
    """Pure ASGI middleware: serves `ROUTES` under `server.baseUrlPath` too. Streamlit mounts its
    own routes under that path but an `st.App`'s routes at the root, while an open page asks
    `live/<token>` relative to itself and a reverse proxy may forward only its sub-path."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope.get("path") or "/"
            inner = server_session.app_path(path)
            if inner != path and (inner in (PATH, "/healthz") or inner.startswith("/live/")):
                scope = {**scope, "path": inner, "raw_path": inner.encode()}
        return await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def lifespan(app):
    """Start the webhook applier and the scheduled sync, then the server's other start-up work
    (ui.serving: warm-up, checks); stop both when the server stops."""
    global _CURRENT
    from .serving import lifespan as serving

    server = None
    try:
        settings = load_settings()
    except SettingsError as error:
        LOG.error("live updates are off: %s", error)
    else:
        server = await asyncio.to_thread(lambda: LiveServer(settings).start())
        with _CURRENT_LOCK:
            _CURRENT = server
    try:
        async with serving(app):
            yield
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
            with _CURRENT_LOCK:
                _CURRENT = None
