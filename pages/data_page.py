"""Data: sync status per resource, "Sync now" with a live progress bar, last errors, the
30-day events warning, and the cache's size and location."""

import time

import streamlit as st

from stripe_analytics.sync import PlanCause
from stripe_analytics import formatting as fmt
from stripe_analytics.ui import connection_state, data, live, page, widgets
from stripe_analytics.ui import fx as forms_fx

ctx = page.context(need_data=False)
account = ctx.account
widgets.page_header("Data", "What is in the local cache and how fresh it is")

syncing = connection_state.control(ctx)
job = syncing.current() if syncing else None

# ---------------------------------------------------------------- sync now
with st.container(border=True):
    if account is not None and account.demo:
        st.markdown("**The demo account is generated, not synced.**")
        st.markdown(page.DEMO_HINT)
    elif syncing is None:
        st.markdown("**Syncing needs a Stripe key.**")
        st.markdown("Connect this account on the **Connect** page, or set `STRIPE_API_KEY` (a restricted key with "
                    "Read access) in the environment, `.env` or `.streamlit/secrets.toml` and reload this page. The "
                    "command line works too: `stripe-analytics sync`.")
    else:
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.markdown("**Sync with Stripe**")
        left.caption("Copies what changed since the last sync (or everything, the first time). The pages keep "
                     "showing the last results until it finishes.")
        if right.button("Sync now", type="primary", icon=":material/sync:",
                        disabled=bool(job and job.running) or not syncing.allowed, help=syncing.reason,
                        key="sync_now", width="stretch"):
            job = syncing.start()
            if job is None:  # refused, or the connection's token could not be renewed: the Connect page says why
                st.switch_page("pages/connect_page.py")

        @st.fragment(run_every=1.0 if job and job.running else None)
        def progress() -> None:
            current = syncing.current()
            if current is None:
                return
            if current.running:
                st.progress(current.fraction, text=f"{current.phase}: {current.message}")
                st.caption(f"Running for {time.time() - current.started:.0f} s")
            elif current.ok:
                st.success(f"Sync finished: {current.message}", icon=":material/check_circle:")
                if st.session_state.get("_sync_seen") != current.started:
                    st.session_state["_sync_seen"] = current.started
                    st.rerun(scope="app")
            else:
                st.error(f"The sync failed: {current.error}", icon=":material/error:")

        progress()

if account is not None and not account.demo:
    live.status_panel(ctx)

if account is None or account.path is None:
    st.stop()

# ---------------------------------------------------------------- location
size = data.file_size(account.path)
with widgets.tile_row(3) as tiles:
    widgets.tile(tiles[0], "Cache size", f"{size / 1_048_576:,.1f} MB" if size else "—")
    widgets.tile(tiles[1], "Data version", f"{ctx.key.version}" if ctx.key else "—",
                 help="Grows with every write; cached views are recomputed when it changes.")
    widgets.tile(tiles[2], "Account", account.label)
st.caption(f"Location: `{account.path.resolve()}`")

if ctx.error:
    widgets.error_state(ctx.error, hint=f"The file is `{account.path}`. Delete it and sync again (or, for the demo, "
                                        "delete it and reload: it is rebuilt).")
    st.stop()
if ctx.key is None:
    st.stop()

try:
    status = data.data_status(ctx.key)
except data.CacheBusy as error:
    st.info(str(error))
    st.stop()

if not account.demo:
    plan = status["plan"]
    if plan.cause is PlanCause.EVENTS_EXPIRED:
        st.warning("The last sync is more than 30 days old. Stripe keeps events for 30 days, so the next sync "
                   "reloads everything instead of applying changes. Sync at least every few weeks to keep syncs "
                   "fast.", icon=":material/history:")
    else:
        st.caption(f"Next sync: **{plan.kind}** ({plan.reason}).")
    if plan.events_expiring:
        st.warning(f"The last applied event is {plan.cursor_age.days} days old; Stripe keeps events 30 days. Sync "
                   "soon, or the next sync will have to reload everything.", icon=":material/history:")

st.markdown("#### Resources")
resources = fmt.sync_resources(status["resources"], generated_at=(
    data.account_info(ctx.key)["last_synced_at"] if account.demo else None))
widgets.table(resources, key="data_resources", view="sync_status", search=False,
              column_config={"resource": st.column_config.TextColumn("Resource"),
                             "rows": st.column_config.NumberColumn("Rows", format="%,d"),
                             "last_sync_at": st.column_config.TextColumn("Last sync"),
                             "next": st.column_config.TextColumn("Next sync"),
                             "skipped": st.column_config.TextColumn("Skipped because")})

st.markdown("#### Last errors")
errors = status["errors"]
if errors.empty and not (not status["runs"].empty and (status["runs"]["outcome"] == "failed").any()):
    st.caption("No errors.")
else:
    widgets.table(errors, key="data_errors", view="sync_errors", search=False, empty="No resource errors.")
st.markdown("#### Sync history")
widgets.table(status["runs"], key="data_runs", view="sync_runs", search=False, empty="No sync has run yet.")
if not status["audit"].empty:
    st.markdown("#### Changes made from the app")
    widgets.table(status["audit"], key="data_audit", view="audit_log")

# ---------------------------------------------------------------- exchange rates
st.markdown("#### Exchange rates")
st.caption("The all-currencies view converts at the European Central Bank's reference rates (shipped with the app, "
           "units per 1 EUR; a day uses the latest rate before it). Import your own rates to add a currency the ECB "
           "does not publish or to extend the table: for the same date and currency yours win.")
rates = data.exchange_rates(ctx.key)
used = set(ctx.options.currencies) if ctx.options else set()
widgets.table(rates[rates["currency"].isin(used)] if used else rates, key="data_rates", view="exchange_rates",
              search=False, empty="None of this account's currencies has a rate; import some below.",
              column_config={"currency": st.column_config.TextColumn("Currency"),
                             "last_per_eur": st.column_config.TextColumn("Last rate (per EUR)"),
                             "rates": st.column_config.NumberColumn("Rates", format="%,d"),
                             "user_rates": st.column_config.NumberColumn("Yours", format="%,d")})
missing = sorted(used - set(rates["currency"]) - {"eur"})
if missing:
    st.warning("No exchange rate for " + ", ".join(c.upper() for c in missing) + ": these currencies are left out of "
               "the all-currencies view until you import rates for them.", icon=":material/currency_exchange:")
forms_fx.import_form(account.path)
