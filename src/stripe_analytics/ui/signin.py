"""Sign-in for shared servers, with Streamlit's own `st.login` (OpenID Connect, `[auth]` in
`.streamlit/secrets.toml`), and the warning when the app is reachable by others without it.

`admission` runs first on every rerun (app.py hides the navigation when it refuses) and
`gate` keeps its answer or stops the run: with sign-in configured, nobody sees a page before
signing in, an identity the access policy refuses (`access.sign_in`: ALLOWED_USERS,
ALLOWED_DOMAINS) sees only why and a *Sign out* button, and a sign-in older than
SESSION_IDLE_DAYS must be renewed. The `Principal` it finds (viewer or editor) is what the
forms and *Sync now* ask the access policy about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from .. import access, server_session
from ..config import Settings, SettingsError, current_settings

PRINCIPAL_KEY = "_sa_principal"


def configured() -> bool:
    """Is sign-in set up (an `[auth]` section with a redirect URI and a cookie secret)?"""
    return server_session.sign_in_configured()


def exposure() -> access.Exposure:
    return access.Exposure(address=st.get_option("server.address"), sign_in_configured=configured())


def principal() -> access.Principal | None:
    found = st.session_state.get(PRINCIPAL_KEY)
    return found if isinstance(found, access.Principal) else None


def principal_or_anonymous() -> access.Principal:
    return principal() or access.Principal.anonymous()


def _claims() -> dict[str, Any]:
    return st.user.to_dict()


@dataclass(frozen=True)
class Admission:
    """This run's answer at the door: the principal let in, or the screen to show instead."""

    principal: access.Principal | None
    message: str | None = None
    button: str | None = None  # "Sign in…" (st.login) when signing in (again) can help
    refused: bool = False  # signed in, but not allowed: offer Sign out

    @property
    def allowed(self) -> bool:
        return self.principal is not None


def admission(settings: Settings | None = None) -> Admission:
    """Who uses this run. Without sign-in configured: anyone (the person at this browser)."""
    if not configured():
        return Admission(access.Principal.anonymous())
    if settings is None:
        try:
            settings = current_settings()
        except SettingsError:
            return Admission(None, "The app's settings are invalid; the administrator must fix them.")
    if not st.user.is_logged_in:
        return Admission(None, "Sign in to see this app's Stripe accounts.", button="Sign in")
    decision = access.sign_in(settings, _claims())
    if decision.expired:
        return Admission(None, decision.reason, button="Sign in again")
    if not decision.allowed:
        return Admission(None, decision.reason or "You may not use this app.", refused=True)
    return Admission(decision.principal)


def gate(admitted: Admission) -> access.Principal:
    """Keep the principal for this run, or show the sign-in screen and stop the run."""
    if admitted.principal is not None:
        st.session_state[PRINCIPAL_KEY] = admitted.principal
        return admitted.principal
    st.session_state.pop(PRINCIPAL_KEY, None)
    st.markdown("## Stripe Analytics")
    if admitted.refused:
        st.error(admitted.message, icon=":material/block:")
        if st.button("Sign out", icon=":material/logout:", key="sa_signout_refused"):
            st.logout()
    else:
        st.info(admitted.message, icon=":material/lock:")
        if admitted.button and st.button(admitted.button, type="primary", icon=":material/login:", key="sa_signin"):
            st.login()
    st.stop()
    raise AssertionError("unreachable")  # pragma: no cover - st.stop raises


def sidebar(who: access.Principal) -> None:
    """Who is signed in, their role, and *Sign out*."""
    if not who.signed_in:
        return
    box = st.sidebar.container(border=True)
    box.caption(f"Signed in as **{who.email}** · {who.role}")
    if box.button("Sign out", icon=":material/logout:", key="sa_signout"):
        st.session_state.pop(PRINCIPAL_KEY, None)
        st.logout()


def banner(settings: Settings) -> None:
    """The warning every page shows when others can reach the app without sign-in."""
    warning = exposure().warning()
    if warning:
        st.warning(warning, icon=":material/public:")
