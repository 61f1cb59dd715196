import threading

from stripe_analytics.fetch_pacing import MAX_IN_FLIGHT, MIN_IN_FLIGHT, InFlightGate, in_flight_for
from stripe_analytics.stripe_client import RequestStats


def test_reads_in_flight_follow_the_budget_and_the_time_per_request():
    # Little's law with a 1.5x margin: live mode's 80/s at 150 ms needs 12 in flight, test mode's 20/s needs 3.
    assert in_flight_for(80, 0.15) == 19
    assert in_flight_for(20, 0.15) == 6
    assert in_flight_for(100, 0.6) == MAX_IN_FLIGHT  # never more than the ceiling
    assert in_flight_for(1, 0.01) == MIN_IN_FLIGHT


def test_the_limit_follows_the_measured_round_trip():
    stats = RequestStats()
    gate = InFlightGate(80, stats.thread_round_trips)
    for _ in range(40):
        with gate.read():
            stats.add_round_trip(0.15)
    assert abs(gate.seconds_per_request - 0.15) < 0.005
    assert gate.limit == in_flight_for(80, gate.seconds_per_request) in (19, 20)
    for _ in range(40):  # the network slows down: more reads in flight keep the budget used
        with gate.read():
            stats.add_round_trip(0.6)
    assert gate.limit == MAX_IN_FLIGHT


def test_a_page_of_several_requests_counts_its_time_per_request():
    stats = RequestStats()
    gate = InFlightGate(20, stats.thread_round_trips)
    for _ in range(40):
        with gate.read():  # a page plus two requests completing its embedded lists
            for _ in range(3):
                stats.add_round_trip(0.1)
    assert abs(gate.seconds_per_request - 0.1) < 0.005


def test_round_trips_are_counted_per_thread():
    stats = RequestStats()
    stats.add_round_trip(0.2)
    other = []
    thread = threading.Thread(target=lambda: (stats.add_round_trip(5.0), other.append(stats.thread_round_trips())))
    thread.start()
    thread.join()
    assert stats.thread_round_trips() == (1, 0.2)
    assert other == [(1, 5.0)]


def test_a_fixed_concurrency_overrides_the_estimate():
    stats = RequestStats()
    gate = InFlightGate(80, stats.thread_round_trips, fixed=3)
    for _ in range(20):
        with gate.read():
            stats.add_round_trip(2.0)
    assert gate.limit == 3


def test_no_more_reads_than_the_limit_run_at_once():
    gate = InFlightGate(20, lambda: (0, 0.0), fixed=2)
    inside = threading.Semaphore(0)
    release = threading.Event()

    def read():
        with gate.read():
            inside.release()
            release.wait(10)

    threads = [threading.Thread(target=read) for _ in range(5)]
    for thread in threads:
        thread.start()
    assert inside.acquire(timeout=5) and inside.acquire(timeout=5)
    assert not inside.acquire(timeout=0.3)  # the third read waits for a free place
    release.set()
    for thread in threads:
        thread.join(10)
    assert gate.peak == 2
