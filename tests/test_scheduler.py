"""The scheduled sync's timing: the interval after a success, back-off after failures (never a
tight loop, never less often than the interval), a short wait when another sync runs; with the
real sync against the fake Stripe."""


import pytest

from stripe_analytics.cache import writer_lock
from stripe_analytics.config import Settings
from stripe_analytics.scheduler import Outcome, ScheduleState, SyncOutcome, SyncScheduler, next_delay
from stripe_analytics.sync import SyncBusyError, SyncError, sync_account
from tests.sync_accounts import fake_with_account

KEY = "sk_test_scheduler_key_00000001"


def test_back_off_doubles_from_30_seconds_up_to_the_interval():
    state = ScheduleState(interval_seconds=900)
    delays = []
    for failures in range(1, 8):
        state.failures = failures
        delays.append(next_delay(state, SyncOutcome(Outcome.failed)))
    assert delays == [30, 60, 120, 240, 480, 900, 900]
    assert next_delay(state, SyncOutcome(Outcome.ok)) == 900
    assert next_delay(state, SyncOutcome(Outcome.busy)) == 60
    assert next_delay(ScheduleState(interval_seconds=10), SyncOutcome(Outcome.failed)) == 10


def test_a_zero_interval_is_refused():
    with pytest.raises(ValueError):
        SyncScheduler(0, lambda: SyncOutcome(Outcome.ok))


@pytest.fixture
def account(tmp_path):
    with fake_with_account(KEY, customers=3) as fake:
        yield fake, Settings(stripe_api_key=KEY, stripe_api_base=fake.url, data_dir=tmp_path,
                             stripe_max_requests_per_second=1000, stripe_max_network_retries=0)


def runner(settings):
    def run() -> SyncOutcome:
        try:
            report = sync_account(settings)
        except SyncBusyError as error:
            return SyncOutcome(Outcome.busy, str(error))
        except SyncError as error:
            return SyncOutcome(Outcome.failed, str(error))
        return SyncOutcome(Outcome.ok, report.reason)
    return run


def test_failures_back_off_and_a_success_resets(account):
    fake, settings = account
    clock = [1000.0]
    scheduler = SyncScheduler(900, runner(settings), clock=lambda: clock[0])
    fake.inject("server_error", times=None)
    assert scheduler.run_once().outcome is Outcome.failed
    assert scheduler.state.failures == 1 and scheduler.state.next_run_at == 1030
    assert scheduler.run_once().outcome is Outcome.failed
    assert scheduler.state.next_run_at == 1060 and "Stripe" in scheduler.state.last_error
    fake.clear_faults()
    assert scheduler.run_once().outcome is Outcome.ok
    state = scheduler.snapshot()
    assert state.failures == 0 and state.last_error is None and state.last_ok_at == 1000
    assert state.next_run_at == 1900


def test_a_sync_already_running_is_waited_out_not_failed(account):
    _, settings = account
    sync_account(settings)
    scheduler = SyncScheduler(900, runner(settings), clock=lambda: 5000.0)
    with writer_lock(settings.data_dir / "acct_synctest.duckdb"):
        assert scheduler.run_once().outcome is Outcome.busy
    assert scheduler.state.failures == 0 and scheduler.state.next_run_at == 5060
