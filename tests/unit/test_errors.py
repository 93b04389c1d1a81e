"""One line for a failure (lakehouse/errors.py): a write the disk refused says so, and what to
do, wherever in a Spark job's causes the operating system's error is."""

from __future__ import annotations

import errno
import os

from lakehouse.errors import disk_refused, one_line


class _Captured(Exception):
    """Like PySpark's captured JVM errors: the message alone, the causes in the JVM's trace."""

    def __init__(self, message: str, trace: str):
        super().__init__(message)
        self._stackTrace = trace


def test_a_full_disk_deep_in_a_spark_job_is_named_with_what_to_do():
    exc = _Captured("[TASK_WRITE_FAILED] Task failed while writing rows to file:/w/bronze/products.",
                    "org.apache.spark.SparkException: [TASK_WRITE_FAILED] ...\n\tat ...\n"
                    "Caused by: java.io.IOException: No space left on device\n\tat ...")
    assert disk_refused(exc) == "No space left on device"
    line = one_line(exc)
    assert line.startswith("the disk refused a write (No space left on device); free space")
    assert "free space" in line and "\n" not in line


def test_python_disk_errors_too():
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        exc = OSError(code, os.strerror(code), "/lakehouse/quality/page.html")
        assert disk_refused(exc) == os.strerror(code), code


def test_other_errors_keep_their_own_first_line():
    exc = _Captured("[TABLE_OR_VIEW_NOT_FOUND] The table `gold.nope` cannot be found.", "at ...\nat ...")
    assert disk_refused(exc) is None
    assert one_line(exc) == "[TABLE_OR_VIEW_NOT_FOUND] The table `gold.nope` cannot be found."
