"""Where a run's time goes: wall seconds per phase, summed over the run, so the next slowdown
shows in `lakehouse run`'s summary without a profiler.

A phase inside another is kept under both names ("silver/merge" within "silver"), so the
summary reads as a breakdown: `silver 49.7s (quality 9.7s, merge 10.7s)`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

# The recordings open in this process (usually one: a run's), and the phases entered now.
_recordings: list[dict[str, float]] = []
_stack: list[str] = []


@contextmanager
def recording() -> Iterator[dict[str, float]]:
    """Collect the phases timed until the block ends: {"silver": s, "silver/merge": s, ...}."""
    spent: dict[str, float] = {}
    _recordings.append(spent)
    try:
        yield spent
    finally:
        _recordings.remove(spent)


@contextmanager
def phase(name: str) -> Iterator[None]:
    _stack.append(name)
    key = "/".join(_stack)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        _stack.pop()
        for spent in _recordings:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - t0


def summary(spent: dict[str, float]) -> str:
    """One line: each top-level phase, with the phases within it."""
    parts = []
    for name, seconds in spent.items():
        if "/" in name:
            continue
        inner = [f"{key.split('/')[-1]} {s:.1f}s" for key, s in spent.items() if key.count("/") == 1
                 and key.startswith(name + "/")]
        parts.append(f"{name} {seconds:.1f}s" + (f" ({', '.join(inner)})" if inner else ""))
    return " · ".join(parts)
