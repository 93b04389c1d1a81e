"""Errors a user can act on. The CLI and the jobs print them as one line and exit non-zero."""

import os
import re
from contextlib import contextmanager
from pathlib import Path


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


# What Hive's client says when it could not reach a metastore, and the network's reason below
# it (Java's ConnectException, UnknownHostException, SocketTimeoutException...). Both must be
# there: a client that failed to start for another reason (its classes, SASL) is not "down".
_METASTORE_CLIENT_FAILED = re.compile(r"Could not connect to meta store|Unable to instantiate "
                                      r"org\.apache\.hadoop\.hive\.ql\.metadata\.SessionHiveMetaStoreClient")
_NETWORK_CAUSE = re.compile(r"java\.net\.(\w+Exception)(?:: ([^\n]*))?")
# The object store refusing a request (HTTP 403) for its account: a wrong key or secret, or a
# policy that does not allow it. Spark's S3A client names the path it asked for (an s3a:// URI,
# or a write's object key); boto3 (the lease, the task records) gives S3's error code. A clock
# too far from the store's is a 403 too, and not the account's fault.
_S3A_REFUSED = re.compile(r"AccessDeniedException: (\S+?): [^\n]*?Status Code: 403")
_S3_REFUSED_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
COMMITTED = "a Delta table commits a write whole or not at all, so every table is at its last committed version"


def _texts(exc: BaseException) -> list[str]:
    # A captured Spark error's own text is its message alone; the causes are in its JVM trace.
    return [str(exc), str(getattr(exc, "java_exception", "") or ""), str(getattr(exc, "_stackTrace", "") or "")]


def disk_refused(exc: BaseException) -> str | None:
    """The cause, when `exc` is a write its disk refused (full, over quota, over a file size limit)."""
    found = next((m for t in _texts(exc) if (m := _DISK_REFUSED.search(t))), None)
    return found.group(0) if found else None


def metastore_unreachable(exc: BaseException) -> str | None:
    """The network's reason, when `exc` is the Hive Metastore not reachable."""
    texts = _texts(exc)
    if not any(_METASTORE_CLIENT_FAILED.search(t) for t in texts):
        return None
    found = next((m for t in texts if (m := _NETWORK_CAUSE.search(t))), None)
    if found is None:
        return None
    kind, message = found.group(1), (found.group(2) or "").strip()
    if kind == "UnknownHostException":  # its message is the host, then the resolver's words
        return f"unknown host {message.split(':')[0].strip()}"
    return message or kind


def s3_error_code(exc: BaseException) -> str | None:
    """S3's error code of a boto3 ClientError (NoSuchKey, AccessDenied, ...), else None."""
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def object_store_refused(exc: BaseException) -> str | None:
    """What the object store refused and its code, when `exc` is a request it refused for its
    account (a wrong key or secret, or a policy that does not allow the request)."""
    if (code := s3_error_code(exc)) in _S3_REFUSED_CODES:
        return f"{code} on {getattr(exc, 'operation_name', 'a request')}"
    texts = _texts(exc)
    found = next((m for t in texts if (m := _S3A_REFUSED.search(t))), None)
    if found is None or any("RequestTimeTooSkewed" in t for t in texts):
        return None
    return f"403 Forbidden on {found.group(1)}"


def refused_line(cause: str, identity: str = "pipeline") -> str:
    """What to do about a refusal of one S3 account's request (config.S3_IDENTITIES, or "root"
    for MinIO's root account): correct its key and secret, or the policy."""
    from lakehouse.config import ENV_PREFIX, MINIO_ROOT, S3_IDENTITIES, Settings, secrets_file  # imports this module

    names = " and ".join(ENV_PREFIX + f.upper() for f in (MINIO_ROOT if identity == "root"
                                                         else S3_IDENTITIES[identity].keys))
    home = Path(os.environ.get(ENV_PREFIX + "HOME") or Settings.model_fields["home"].default)
    policy = "" if identity == "root" else ", or the bucket's policy for that account"
    return (f"the object store refused the request ({cause}); correct {names} (the native platform keeps them in "
            f"{secrets_file(home)}, compose in .env){policy}, then run again")


@contextmanager
def refusals_named(identity: str):
    """A refusal of this account's S3 requests, within the block, as one line naming its settings."""
    try:
        yield
    except Exception as exc:
        if cause := object_store_refused(exc):
            raise LakehouseError(refused_line(cause, identity)) from None
        raise


def _metastore_uri() -> str:
    from lakehouse.config import ENV_PREFIX, Settings  # config imports this module

    return os.environ.get(ENV_PREFIX + "METASTORE_URI") or Settings.model_fields["metastore_uri"].default


def one_line(exc: BaseException) -> str:
    """A failure as one readable line. For a JVM error, the JVM's own message (py4j's
    wrapper only says which call failed); Spark's errors put the plan below the first line.
    A write the disk refused, a metastore that does not answer, or an object store that refuses
    the jobs' requests, says so, and what to do."""
    if cause := disk_refused(exc):
        return f"the disk refused a write ({cause}); free space (or raise the limit), then run again: {COMMITTED}"
    if cause := metastore_unreachable(exc):
        return (f"the Hive Metastore at {_metastore_uri()} cannot be reached ({cause}); start it (`lakehouse up` "
                f"starts what is down) or correct LAKEHOUSE_METASTORE_URI, then run again: {COMMITTED}")
    if cause := object_store_refused(exc):  # the jobs' account: S3A's, the lease's, the task records'
        return refused_line(cause)
    java = getattr(exc, "java_exception", None)
    text = (str(java.getMessage()) if java is not None else str(exc)).strip() or type(exc).__name__
    first = next((ln for ln in text.splitlines() if ln.strip()), text)
    return first if len(first) <= 400 else first[:397] + "..."
