"""Errors a user can act on. The CLI and the jobs print them as one line and exit non-zero."""


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


def one_line(exc: BaseException) -> str:
    """A failure as one readable line. For a JVM error, the JVM's own message (py4j's
    wrapper only says which call failed); Spark's errors put the plan below the first line."""
    java = getattr(exc, "java_exception", None)
    text = (str(java.getMessage()) if java is not None else str(exc)).strip() or type(exc).__name__
    first = next((ln for ln in text.splitlines() if ln.strip()), text)
    return first if len(first) <= 400 else first[:397] + "..."
