"""Stripe Analytics: a local-first revenue dashboard over a DuckDB copy of a Stripe account."""

__version__ = "0.1.0"
