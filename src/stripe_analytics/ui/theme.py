"""The app's look: a few CSS touches on top of the Streamlit theme in .streamlit/config.toml,
and the sidebar's account block (mode badge and freshness)."""

from __future__ import annotations

import logging

import streamlit as st

from ..cache import CacheError
from . import data
from ..formatting import ago

log = logging.getLogger(__name__)

CSS = """
<style>
/* denser page top, readable tiles, tidy sidebar */
.block-container {padding-top: 2.2rem; padding-bottom: 3rem; max-width: 1480px;}
/* a row of tiles (tiles.row_html): laid out as Streamlit's columns with the small gap */
.sa-tile-row {display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 1rem;}
.sa-tiles-1 {grid-template-columns: minmax(0, 1fr);}
.sa-tiles-2 {grid-template-columns: repeat(2, minmax(0, 1fr));}
.sa-tiles-3 {grid-template-columns: repeat(3, minmax(0, 1fr));}
.sa-tile-cell {display: flex; flex-direction: column; gap: 1rem; min-width: 0;}
/* KPI tiles (stripe_analytics.tiles): Streamlit's bordered metric, as one HTML element */
.sa-tile {position: relative; background: #ffffff; border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 10px;
  padding: 0.75rem 0.9rem 0.5rem 0.9rem; font-family: inherit; color: #0a2540;}
.sa-tile-label {display: flex; align-items: center; gap: 0.35rem; min-height: 1.4rem; font-size: 0.82rem;
  color: #5b6779; font-weight: 500;}
.sa-tile-help {display: inline-flex; align-items: center; justify-content: center;
  width: 0.95rem; height: 0.95rem; border-radius: 50%; border: 1px solid #8792a2; color: #5b6779;
  font-size: 0.66rem; font-weight: 600; cursor: help; outline-offset: 2px;}
/* the hover text under the tile (its value stays in sight), as wide as the tile at most: it never
   runs off a phone's screen */
.sa-tile-help:hover::after, .sa-tile-help:focus::after {content: attr(data-help); position: absolute;
  top: calc(100% + 0.3rem); left: 0.5rem; right: 0.5rem; z-index: 1000; white-space: pre-line; padding: 0.5rem 0.7rem;
  border-radius: 6px; background: #0a2540; color: #ffffff; font-size: 0.8rem; font-weight: 400; line-height: 1.4;
  box-shadow: 0 2px 8px rgba(10, 37, 64, 0.25);}
.sa-tile-value {font-size: 1.55rem; font-weight: 600; color: #0a2540; line-height: 1.35; overflow-wrap: anywhere;
  padding: 0.1rem 0;}
.sa-tile-change {display: flex; flex-wrap: wrap; align-items: center; gap: 0.4rem; font-size: 0.85rem;}
.sa-tile-delta {border-radius: 999px; padding: 0.05rem 0.5rem; font-weight: 500; white-space: nowrap;}
.sa-tile-delta.sa-up {color: #079464; background: #F1FBF6;}
.sa-tile-delta.sa-down {color: #D94A57; background: #FDF2F3;}
.sa-tile-delta.sa-off {color: #6B7280; background: #F3F4F6;}
.sa-tile-vs {color: #6B7280; font-size: 0.8rem;}
.sa-spark-box {position: relative; margin-top: 0.45rem;}
.sa-spark-box img, .sa-spark-box svg {display: block; width: 100%; height: 100%;}
.sa-spark-points {position: absolute; inset: 0; display: flex;}
.sa-spark-points span {flex: 1;}
[data-testid="stSidebar"] [data-testid="stMarkdownContainer"] p {margin-bottom: 0.2rem;}
h2 {font-weight: 650; letter-spacing: -0.01em; color: #0a2540;}
h4 {font-weight: 600; color: #0a2540;}
/* While a run takes over 0.3 s (a filter change, a page switch), an "Updating…" pill with a
   spinner, top centre: Streamlit's own cache spinners say what is computed only after 0.5 s and
   may sit below the fold, and its running icon is small. Driven by the run state Streamlit puts
   on stApp, so it comes and goes with every run, whatever the page does. */
[data-testid="stApp"]::before, [data-testid="stApp"]::after {position: fixed; top: 0.9rem; z-index: 999991;
  visibility: hidden; pointer-events: none;}
[data-testid="stApp"]::after {content: "Updating…"; left: calc(50% - 4rem); width: 8rem; box-sizing: border-box;
  padding: 0.3rem 0 0.3rem 2.2rem; border-radius: 999px; background: #0a2540; color: #ffffff;
  font-size: 0.85rem; font-weight: 500; box-shadow: 0 2px 8px rgba(10, 37, 64, 0.25);}
[data-testid="stApp"]::before {content: ""; left: calc(50% - 3.2rem); margin-top: 0.42rem; width: 0.7rem;
  height: 0.7rem; z-index: 999992; border: 2px solid rgba(255, 255, 255, 0.35); border-top-color: #ffffff;
  border-radius: 50%;}
[data-testid="stApp"][data-test-script-state="running"]::after {animation: sa-busy-show 0s linear 0.3s forwards;}
[data-testid="stApp"][data-test-script-state="running"]::before {
  animation: sa-busy-show 0s linear 0.3s forwards, sa-busy-spin 0.8s linear infinite;}
@keyframes sa-busy-show {to {visibility: visible;}}
@keyframes sa-busy-spin {to {transform: rotate(360deg);}}
@media (max-width: 640px) {
  /* below the fixed header (3.75rem), so the first line of the page is not hidden under it */
  .block-container {padding-left: 0.8rem; padding-right: 0.8rem; padding-top: 4.4rem;}
  .sa-tile-value {font-size: 1.15rem;}
  .sa-tile {padding: 0.5rem 0.6rem 0.35rem 0.6rem;}
  /* KPI tiles two by two instead of one under the other, so a chart comes within a screen */
  .sa-tile-row.sa-tiles-3, .sa-tile-row.sa-tiles-4 {grid-template-columns: repeat(2, minmax(0, 1fr));}
  .sa-tile-row, .sa-tile-cell {gap: 0.5rem;}
  .sa-tile .sa-spark-box {display: none;}
}
</style>
"""


def apply() -> None:
    st.html(CSS)


def sidebar_account(ctx) -> None:
    """Mode badge and how fresh the data is, under the account picker."""
    sidebar = st.sidebar
    if ctx.account is None:
        return
    line = sidebar.container(horizontal=True, gap="small", vertical_alignment="center")
    if ctx.account.demo:
        line.badge("Demo · test data", icon=":material/science:", color="violet")
    elif ctx.mode == "live":
        line.badge("Live mode", icon=":material/bolt:", color="green")
    else:
        line.badge("Test mode", icon=":material/construction:", color="orange")
    if ctx.key is not None and ctx.error is None:
        try:
            info = data.account_info(ctx.key)
        except data.CacheBusy:
            line.caption("Syncing now…")
            return
        except CacheError as error:  # the page itself says so in full; the sidebar only points at it
            log.warning("sidebar: the cache %s cannot be read: %s", ctx.key.name, error)
            line.caption("Cache unreadable: see the Data page")
            return
        name = ((info.get("profile") or {}).get("business_profile") or {}).get("name") \
            or (info.get("profile") or {}).get("email") or info.get("account_id")
        when = info.get("last_synced_at")
        verb = "Generated" if ctx.account.demo else "Synced"
        line.caption(f"{verb} {ago(when)}" if when else "Never synced")
        if name and not ctx.account.demo:
            sidebar.caption(name)
