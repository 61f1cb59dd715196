"""Streamlit building blocks for the app's pages: filters kept in the URL, cached reads of
the account's cache, tables and charts with downloads, metric definitions, formatting and
empty/error states. Pages in `pages/` only compose these."""
