"""/notes as the first request after the server starts: see stripe_analytics.ui.deeplinks."""
from stripe_analytics.ui.deeplinks import run_app

run_app(__file__)
