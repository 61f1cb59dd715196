"""Connect: this browser tab's Stripe account. Three ways in — "Connect with Stripe" (Stripe
OAuth in a popup, through streamlit-oauth), a restricted key checked at once, or the demo
account — and, once connected, the account's mode, what the key cannot read, its sync, and
Disconnect.

The connection is kept on the server, encrypted (`stripe_analytics.connection_store`), for
this browser (an opaque session cookie) or, with sign-in, for the signed-in user: reloads and
new tabs keep it, Disconnect deletes it, SESSION_IDLE_DAYS unused expire it. No key or token
reaches the browser or a URL. Stripe's answer (`code`,
`state`) only ever reaches the popup's address, which streamlit-oauth reads and closes; if
this page is opened with such an answer in its own address, it is refused and removed."""

import time

import streamlit as st

from stripe_analytics import oauth
from stripe_analytics.cache import CacheError
from stripe_analytics.key_check import KeyCheckError
from stripe_analytics.ui import connection_state as session, data, page, widgets

POPUP_GRACE = 5.0  # seconds streamlit-oauth gets to read and close the popup before its URL is cleaned

ctx = page.context(need_data=False)
settings = ctx.settings
state = st.session_state
widgets.page_header("Connect", "Your Stripe account, kept for you on this app's server")


def mode_badge(container, live: bool) -> None:
    if live:
        container.badge("Live mode", icon=":material/bolt:", color="green")
    else:
        container.badge("Test mode", icon=":material/construction:", color="orange")


def show_notice() -> None:
    note = session.notice()
    if note:
        kind, message = note
        icons = {"error": ":material/error:", "warning": ":material/warning:", "success": ":material/check_circle:",
                 "info": ":material/info:"}
        getattr(st, kind, st.error)(message, icon=icons.get(kind))


def start_sync(conn, *, full: bool = False) -> None:
    session.start_sync(settings, conn, full=full)  # a refusal or a dead token leaves its notice


# ---------------------------------------------------------------- Stripe's answer in this URL
answer = session.callback_params()
if answer:
    flow = session.pending_flow()
    if flow is not None and flow.states.is_pending(answer.get("state")):
        # An attempt of this very session came back in this tab: finish it, then clean the URL.
        session.clear_callback_params()
        try:
            session.connect_oauth(settings, flow, flow.complete(answer))
            start_sync(session.current(settings))
        except oauth.OAuthError as error:
            session.notice(str(error))
        st.rerun()
    # The popup's landing: streamlit-oauth reads this window's address and closes it within a
    # second or two. Anything still here afterwards was opened by hand: refuse and clean it.
    box = st.empty()
    box.info("Finishing the connection in the window that opened this one; this window closes by itself.",
             icon=":material/hourglass_top:")
    time.sleep(POPUP_GRACE)
    session.clear_callback_params()
    box.warning(str(oauth.state_mismatch()), icon=":material/block:")
    st.stop()

conn = session.current(settings)
session.show_rotation()

# ---------------------------------------------------------------- connected
if conn is not None:
    show_notice()
    with st.container(border=True):
        line = st.container(horizontal=True, vertical_alignment="center")
        line.markdown(f"### {conn.label}")
        mode_badge(line, conn.livemode)
        whose = (f"you ({ctx.principal.email})" if ctx.principal is not None and ctx.principal.signed_in
                 else "this browser")
        st.markdown(f"Account `{conn.account_id}`, connected with **{conn.how}**. It is kept for {whose}, encrypted "
                    f"on this app's server: reloads and new tabs stay connected; it expires after "
                    f"{settings.session_idle_days:g} days unused, and **Disconnect** deletes it.")
        if conn.livemode:
            st.caption("Live mode: these are the account's real customers and payments.")
        if conn.missing:
            st.warning("This key cannot read everything, so some pages stay empty until you add these permissions "
                       "to the key in the Stripe Dashboard (Developers → API keys → edit the key):\n\n"
                       + "\n".join(f"- {m}" for m in conn.missing), icon=":material/lock:")

    job = session.sync_job(settings, conn.account_id)
    path = session.cache_path_for(settings, conn.account_id)
    if job is not None and not job.running:
        state["_sa_sync_seen"] = job.started  # this full run already shows its outcome everywhere

    @st.fragment(run_every=1.0 if job and job.running else None)
    def sync_status() -> None:
        current = session.sync_job(settings, conn.account_id)
        if current is not None and current.running:
            st.progress(current.fraction, text=f"Syncing from Stripe · {current.phase}: {current.message}")
            st.caption(f"Running for {time.time() - current.started:.0f} s. The pages fill in when it finishes.")
            return
        if current is not None and not current.ok:
            st.error(f"The sync failed: {current.error}", icon=":material/error:")
        if current is not None and state.get("_sa_sync_seen") != current.started:
            state["_sa_sync_seen"] = current.started
            st.rerun(scope="app")  # finished during a fragment run: redraw the sidebar and the pages
        if not path.exists():
            st.info("Not synced yet: click **Sync now** to copy the account into this app.", icon=":material/sync:")
            return
        try:
            key, _ = data.cache_key(path)
            info = data.account_info(key)
        except CacheError as error:  # busy (a sync) or unreadable; anything else reaches the app's error line and log
            st.warning(f"The local copy cannot be read right now: {error}")
            return
        counts = info.get("counts") or {}
        shown = [(n, counts.get(n, 0)) for n in ("customers", "subscriptions", "invoices", "charges")]
        st.success("Synced: " + " · ".join(f"{n:,} {name}" for name, n in shown), icon=":material/check_circle:")

    sync_status()

    buttons = st.container(horizontal=True, gap="small")
    if buttons.button("Open the dashboard", type="primary", icon=":material/dashboard:", key="sa_open"):
        st.switch_page("pages/overview_page.py")
    syncing = session.may_sync(settings, conn)
    if buttons.button("Sync now", icon=":material/sync:", key="sa_sync",
                      disabled=bool(job and job.running) or not syncing.allowed, help=syncing.reason):
        start_sync(conn)
        st.rerun()
    if buttons.button("Disconnect", icon=":material/link_off:", key="sa_disconnect"):
        label = conn.label
        warning = session.disconnect(settings)
        if warning:
            session.notice(warning, "warning")
        else:
            session.notice(f"Disconnected from {label}: this app no longer holds any key or token for it.", "success")
        st.rerun()
    st.stop()

# ---------------------------------------------------------------- not connected: three ways in
show_notice()
st.markdown("Connect a Stripe account to see its figures. The access is kept on this app's server, encrypted, for "
            "this browser (or for you, when you signed in), until you click Disconnect or leave it unused for "
            f"{settings.session_idle_days:g} days.")
left, middle, right = st.columns(3, border=True)

with left:
    st.markdown("#### Connect with Stripe")
    st.caption("Sign in to Stripe in a small window and approve read access. Nothing to copy or paste.")
    try:
        flow = session.oauth_flow(settings, redirect_uri=session.default_redirect_uri())
    except oauth.OAuthNotConfigured as error:
        st.info(str(error), icon=":material/info:")
    else:
        from streamlit_oauth import StreamlitOauthError

        attempt = state.get("_sa_oauth_attempt", 0)
        component_key = f"sa_connect_{attempt}"
        seeded = f"state-{component_key}"  # where streamlit-oauth keeps its state: seed it with ours
        if not flow.states.is_pending(state.get(seeded), min_left=60):
            state[seeded] = flow.new_state()
        try:
            result = session.popup_component(flow).authorize_button(
                "Connect with Stripe", flow.config.redirect_uri, flow.config.scope, key=component_key,
                height=720, width=560, use_container_width=True)
        except oauth.OAuthError:  # the seeded state went stale between two checks: start a fresh attempt
            state["_sa_oauth_attempt"] = attempt + 1
            st.rerun()
        except StreamlitOauthError as error:
            state["_sa_oauth_attempt"] = attempt + 1
            payload = error.args[0] if error.args else None
            try:
                if isinstance(payload, dict):
                    flow.complete(payload)  # an error answer: always raises its plain message
                flow.states.discard_all()
                raise oauth.state_mismatch()
            except oauth.OAuthError as failure:
                session.notice(str(failure))
            st.rerun()
        if result:
            state["_sa_oauth_attempt"] = attempt + 1
            try:
                grant = flow.complete({k: v for k, v in result.items() if k in session.CALLBACK_PARAMS})
                start_sync(session.connect_oauth(settings, flow, grant))
            except oauth.OAuthError as error:
                session.notice(str(error))
            st.rerun()
        st.caption(f"{flow.config.label} · a window opens on Stripe; allow pop-ups for this site if nothing appears. "
                   f"Stripe sends you back to `{flow.config.redirect_uri}`.")

with middle:
    st.markdown("#### Use a restricted key")
    st.caption("A key with Read access only, from Developers → API keys → Create restricted key. It is checked at "
               "once and never shown again.")
    with st.form("sa_key_form", clear_on_submit=True, border=False):
        pasted = st.text_input("Restricted key", type="password", placeholder="rk_live_… or rk_test_…",
                               autocomplete="off")
        submitted = st.form_submit_button("Check and connect", icon=":material/key:", width="stretch")
    if submitted:
        try:
            with st.spinner("Checking the key with Stripe…"):
                connected, report = session.connect_key(settings, pasted)
        except KeyCheckError as error:
            session.notice(str(error))
        else:
            if connected is None:
                session.notice(report.summary() + "\n\n" + "\n".join(f"- {m}" for m in report.missing))
            else:
                start_sync(connected)
        del pasted
        st.rerun()

with right:
    st.markdown("#### Look around the demo")
    st.caption("A generated account with a few thousand customers, to see what the app shows. Always one click away.")
    if st.button("Use the demo account", icon=":material/science:", key="sa_demo", width="stretch"):
        session.select_account("demo")
        st.switch_page("pages/overview_page.py")
