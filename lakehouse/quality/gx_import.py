"""Great Expectations' import: started ahead of its first use in a thread of its own
(preload), and waited for wherever GX is used (ready).

The import alone took 3.5 s of a run from a new process (some 2,000 modules), while the
driver's Python waits on the JVM most of a run. But two threads must not import GX's modules
at once: they import each other in a cycle, and Python, finding the two threads each waiting
for a module the other is importing, hands one of them a half-imported module (an ImportError,
"partially initialized module"). So every use waits for the preload's import to end first.
The wait is a join, which Python's deadlock check does not see: it holds because GX imports
nothing of lakehouse (a module whose import calls ready(), lakehouse.quality.exact, holds its
own import lock meanwhile). What the caller's thread imports meanwhile is already imported
(pyspark.sql, pandas, pyarrow), not GX's other pyspark modules (ml, connect).
"""

from __future__ import annotations

import sys
import threading

_loading: threading.Thread | None = None


def preload() -> None:
    """Start importing GX in a thread, unless it is imported or being imported. pandas and
    pyarrow, which GX and the caller's Spark both use, are imported here first, on the
    caller's thread, for the same reason."""
    global _loading
    if _loading is not None or "great_expectations" in sys.modules:
        return
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    # Not a daemon: an interpreter that exits (a run with nothing to judge) waits for the
    # import to end rather than tearing down modules under it.
    _loading = threading.Thread(target=_import_gx, name="import-great-expectations")
    _loading.start()


def ready() -> None:
    """Wait for the preload's import, if one was started: call before importing anything of GX."""
    if _loading is not None and _loading is not threading.current_thread():
        _loading.join()


def _import_gx() -> None:
    try:
        import great_expectations  # noqa: F401
        import great_expectations.expectations  # noqa: F401
    except Exception:  # noqa: BLE001 - the import where GX is used raises it again, with the caller's context
        pass
