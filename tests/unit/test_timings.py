"""Where a run's time goes (lakehouse/timings.py): phases summed over the run, a phase within
another kept under both, and one line for the summary."""

from __future__ import annotations

import time

from lakehouse import timings


def test_phases_add_up_and_nest():
    with timings.recording() as spent:
        for _ in range(2):
            with timings.phase("silver"):
                with timings.phase("merge"):
                    time.sleep(0.01)
        with timings.phase("gold"):
            pass
    assert set(spent) == {"silver", "silver/merge", "gold"}
    assert spent["silver"] >= spent["silver/merge"] >= 0.02
    line = timings.summary(spent)
    assert line.startswith("silver ") and "(merge 0.0" in line and " · gold 0.0s" in line


def test_nothing_is_recorded_outside_a_recording():
    with timings.phase("silver"):
        pass
    with timings.recording() as spent:
        pass
    assert spent == {}
