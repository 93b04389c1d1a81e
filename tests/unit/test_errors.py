"""One line for a failure (lakehouse/errors.py): a write the disk refused, or a metastore that
does not answer, says so, and what to do, wherever in a Spark job's causes the reason is.
(test_platform makes the metastore really go away under a cluster run.)"""

from __future__ import annotations

import errno
import os

from lakehouse.errors import disk_refused, metastore_unreachable, object_store_refused, one_line


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


# What Spark 4.1's Hive client raises when no metastore listens (abridged from a real run).
UNREACHABLE = _Captured(
    "org.apache.hadoop.hive.ql.metadata.HiveException: java.lang.RuntimeException: Unable to instantiate "
    "org.apache.hadoop.hive.ql.metadata.SessionHiveMetaStoreClient",
    "org.apache.spark.sql.AnalysisException: ...\n\tat ...\nCaused by: org.apache.hadoop.hive.metastore.api."
    "MetaException: Could not connect to meta store using any of the URIs provided. Most recent failure: "
    "org.apache.thrift.transport.TTransportException: java.net.ConnectException: Connection refused\n\tat ...")


def test_a_metastore_that_does_not_answer_is_named_with_its_uri_and_what_to_do(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_METASTORE_URI", "thrift://metastore.example:9083")
    assert metastore_unreachable(UNREACHABLE) == "Connection refused"
    line = one_line(UNREACHABLE)
    assert line.startswith("the Hive Metastore at thrift://metastore.example:9083 cannot be reached (Connection "
                           "refused); start it (`lakehouse up` starts what is down) or correct LAKEHOUSE_METASTORE_URI")
    assert "\n" not in line
    monkeypatch.delenv("LAKEHOUSE_METASTORE_URI")
    assert "at thrift://127.0.0.1:9083 cannot" in one_line(UNREACHABLE)  # the default


def test_an_unknown_metastore_host_is_named_and_a_client_that_fails_otherwise_is_not_called_down():
    unknown = _Captured(UNREACHABLE.args[0], "Caused by: org.apache.hadoop.hive.metastore.api.MetaException: Could "
                        "not connect to meta store using any of the URIs provided. Most recent failure: org.apache."
                        "thrift.transport.TTransportException: java.net.UnknownHostException: metastore.example: "
                        "Name or service not known\n\tat ...")
    assert metastore_unreachable(unknown) == "unknown host metastore.example"
    # The client's classes or its SASL setup failing: no network cause, so its own first line.
    other = _Captured(UNREACHABLE.args[0], "Caused by: java.lang.NoClassDefFoundError: org/apache/thrift/TBase")
    assert metastore_unreachable(other) is None
    assert one_line(other) == UNREACHABLE.args[0]


# What Spark's S3A client raises when MinIO refuses the secret (a real run's message, its ids cut).
S3A_REFUSED = _Captured(
    "An error occurred while calling o44.text.\n: java.nio.file.AccessDeniedException: s3a://landing/orders/"
    "2026-01-01/orders.csv: getFileStatus on s3a://landing/orders/2026-01-01/orders.csv: software.amazon.awssdk."
    "services.s3.model.S3Exception: Forbidden (Service: S3, Status Code: 403, Request ID: 18ECD61F5EDE950E):null",
    "")


def test_an_object_store_refusing_the_jobs_account_names_the_settings_to_correct(monkeypatch):
    from botocore.exceptions import ClientError

    monkeypatch.setenv("LAKEHOUSE_HOME", "/srv/lakehouse")
    assert object_store_refused(S3A_REFUSED) == "403 Forbidden on s3a://landing/orders/2026-01-01/orders.csv"
    # S3A's writes name the object's key, not a URI.
    write = _Captured("[TASK_WRITE_FAILED] Task failed while writing rows to s3a://warehouse/silver/orders.",
                      "Caused by: java.nio.file.AccessDeniedException: silver/orders/part-00000.parquet: Writing "
                      "Object on silver/orders/part-00000.parquet: software.amazon.awssdk.services.s3.model."
                      "S3Exception: Access Denied. (Service: S3, Status Code: 403, Request ID: 1):AccessDenied")
    assert object_store_refused(write) == "403 Forbidden on silver/orders/part-00000.parquet"
    lease_read = ClientError({"Error": {"Code": "SignatureDoesNotMatch", "Message": "The request signature we "
                                        "calculated does not match the signature you provided."}}, "GetObject")
    assert object_store_refused(lease_read) == "SignatureDoesNotMatch on GetObject"
    for exc in (S3A_REFUSED, write, lease_read):
        line = one_line(exc)
        assert line.startswith("the object store refused the request (") and "\n" not in line, line
        assert ("correct LAKEHOUSE_S3_ACCESS_KEY and LAKEHOUSE_S3_SECRET_KEY (the native platform keeps them in "
                "/srv/lakehouse/platform/secrets.env, compose in .env), or the bucket's policy") in line, line
    # Not the account's doing: a key that is not there, a clock too far from the store's.
    missing = ClientError({"Error": {"Code": "NoSuchKey", "Message": "The specified key does not exist."}}, "GetObject")
    skewed = _Captured(S3A_REFUSED.args[0].replace("Forbidden", "RequestTimeTooSkewed"), "")
    assert object_store_refused(missing) is None and object_store_refused(skewed) is None

    class _HttpError(Exception):  # another library's error with a response that is no dict
        response = object()

    assert object_store_refused(_HttpError("boom")) is None and one_line(_HttpError("boom")) == "boom"


def test_other_errors_keep_their_own_first_line():
    exc = _Captured("[TABLE_OR_VIEW_NOT_FOUND] The table `gold.nope` cannot be found.", "at ...\nat ...")
    assert disk_refused(exc) is None and metastore_unreachable(exc) is None and object_store_refused(exc) is None
    assert one_line(exc) == "[TABLE_OR_VIEW_NOT_FOUND] The table `gold.nope` cannot be found."
