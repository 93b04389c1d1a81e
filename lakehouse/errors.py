"""Errors a user can act on. The CLI and the jobs print them as one line and exit non-zero."""

import re


class LakehouseError(Exception):
    """Base of every error that is the user's input, not a bug: printed without a traceback."""


class ConfigError(LakehouseError):
    pass


class SpecError(LakehouseError):
    pass


class LandingError(LakehouseError):
    """Landing files that cannot be ingested as they are (missing path, empty file)."""


class LandingFileGone(LandingError):
    """A landing file listed by a run and gone when read (its source moved or deleted it)."""


class SchemaDriftError(LakehouseError):
    pass


class ExpectationFailed(LakehouseError):
    """An expectation with action `fail` was violated: the layer writes nothing."""


class AccountingError(LakehouseError):
    """A run's record counts do not close: rows read != rows accounted for."""


# What the operating system says when a disk refuses a write, as Java and Python report it
# (ENOSPC, EDQUOT, EFBIG): anywhere in an error, however deep in a Spark job's causes.
_DISK_REFUSED = re.compile(r"No space left on device|Disk quota exceeded|File too large")


def disk_refused(exc: BaseException) -> str | None:
    """The cause, when `exc` is a write its disk refused (full, over quota, over a file size limit)."""
    # A captured Spark error's own text is its message alone; the causes are in its JVM trace.
    texts = [str(exc), str(getattr(exc, "java_exception", "") or ""), str(getattr(exc, "_stackTrace", "") or "")]
    found = next((m for t in texts if (m := _DISK_REFUSED.search(t))), None)
    return found.group(0) if found else None


def one_line(exc: BaseException) -> str:
    """A failure as one readable line. For a JVM error, the JVM's own message (py4j's
    wrapper only says which call failed); Spark's errors put the plan below the first line.
    A write the disk refused says so, and what to do."""
    if cause := disk_refused(exc):
        return (f"the disk refused a write ({cause}); free space (or raise the limit), then run again: a Delta "
                "table commits a write whole or not at all, so every table is at its last committed version")
    java = getattr(exc, "java_exception", None)
    text = (str(java.getMessage()) if java is not None else str(exc)).strip() or type(exc).__name__
    first = next((ln for ln in text.splitlines() if ln.strip()), text)
    return first if len(first) <= 400 else first[:397] + "..."
