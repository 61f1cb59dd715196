"""Sync jobs (sync_jobs.py): the one progress format the CLI prints and the app's job reads,
and how a job reads its child's lines."""

from __future__ import annotations

from stripe_analytics.sync import SyncProgress
from stripe_analytics.sync_jobs import SyncJob, progress_printer


def test_sync_progress_lines_are_parsed():
    job = SyncJob(["sync"])
    job.feed("backfill: full sync: no sync has completed yet (0%)\n")
    job.feed("backfill: customers: 300 objects (40%)\n")
    assert job.phase == "backfill" and job.message == "customers: 300 objects" and job.fraction == 0.9 * 0.4
    job.feed("events: applied 200 events (50%)\n")
    assert job.phase == "events" and abs(job.fraction - 0.95) < 1e-9
    job.feed("Stripe refused the API key (invalid, expired or revoked). Check STRIPE_API_KEY.\n")
    job.returncode = 3
    assert "Stripe refused the API key" in job.error


def test_what_the_cli_prints_is_what_a_job_reads(capsys):
    """One progress format: the lines `stripe-analytics sync` prints off a terminal (the sync
    children print the same) move the app's progress bar."""
    show = progress_printer(interactive=False)
    for progress in (SyncProgress("backfill", "customers", 120, 0.25, "customers: 120 objects"),
                     SyncProgress("backfill", "invoices", 480, 0.5, "invoices: 480 objects"),
                     SyncProgress("events", None, 30, 0.5, "applied 30 events"),
                     SyncProgress("done", None, 510, 1.0, "510 objects")):
        show(progress)
    printed = capsys.readouterr().err
    job = SyncJob(["sync"])
    seen = []
    for line in printed.splitlines(keepends=True):
        job.feed(line)
        seen.append((job.phase, job.message, round(job.fraction, 3)))
    assert seen == [("backfill", "customers: 120 objects", 0.225), ("backfill", "invoices: 480 objects", 0.45),
                    ("events", "applied 30 events", 0.95), ("done", "510 objects", 1.0)]
