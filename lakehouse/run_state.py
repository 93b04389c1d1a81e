"""A plain `lakehouse run` of the embedded lakehouse that would find nothing new, answered
without starting Spark (a JVM, its catalog and a first Delta read cost most of such a run).

A run changes nothing when run again on what it left (every batch and build is idempotent).
So a run that ends cleanly, with no file left waiting, records what it saw and what it left:
the landing files it found when it began (paths, sizes, modification times), the specs, the
package's code, its settings and selection, and every table's Delta version when it ended.
The next run with the same command finds that state again, exactly, and is then the rerun
that changes nothing: it says so and stops. Anything else (a file landed or changed, a spec
or setting edited, the code upgraded, a table written by another command such as
`lakehouse reprocess` or maintenance) starts Spark as before. The check runs under the
lakehouse's lock, so nothing writes while it looks. Local profile only: the cluster's tables
and files are a service's, and an Airflow task is its own job.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from importlib import metadata
from pathlib import Path

from lakehouse.config import Settings
from lakehouse.files import write_private

STATE_FILE = Path("state") / "last_run.json"
_COMMIT_FILE = re.compile(r"^(\d{20})\.(json|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet)$")
_PACKAGE = Path(__file__).parent


def _local(uri: str) -> Path:
    return Path("/" + uri[len("file:"):].lstrip("/")) if uri.startswith("file:") else Path(uri)


def digest(parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()


def _files(root: Path, suffixes: tuple[str, ...] | None = None, folders: bool = False) -> list[tuple]:
    """Every file under `root` (any depth, through links as a listing follows them): its path
    under it, size and modification time; with `folders`, every folder's path too (an empty
    day folder is a batch of nothing to a run)."""
    out: list[tuple] = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs.sort()
        if folders:
            out.append((os.path.relpath(folder, root), "folder"))
        for name in sorted(names):
            if suffixes and not name.endswith(suffixes):
                continue
            st = os.stat(os.path.join(folder, name))
            out.append((os.path.relpath(os.path.join(folder, name), root), st.st_size, st.st_mtime_ns))
    return out


def _is_local(uri: str) -> bool:
    return uri.startswith(("file:", "/"))


def code() -> str:
    """The package's source and the versions of what it runs on."""
    sources = [(p, Path(_PACKAGE, p).read_bytes()) for p, _, _ in _files(_PACKAGE, (".py",))]
    versions = [metadata.version(d) for d in ("pyspark", "delta-spark", "great-expectations")]
    return digest([*versions, *(f"{p}:{hashlib.sha256(b).hexdigest()}" for p, b in sources)])


def specs_digest(settings: Settings) -> str:
    return digest(f"{p}:{Path(settings.specs_dir, p).read_text()}"
                  for p, _, _ in _files(Path(settings.specs_dir), (".yaml", ".yml")))


def table_versions(settings: Settings) -> dict[str, int]:
    """Each Delta table under the warehouse (by its folder) and its newest version, from the
    names of its _delta_log's files."""
    versions = {}
    warehouse = _local(settings.warehouse_uri)
    for folder, dirs, _ in os.walk(warehouse):
        if "_delta_log" in dirs:
            commits = [int(m[1]) for e in os.scandir(os.path.join(folder, "_delta_log"))
                       if (m := _COMMIT_FILE.match(e.name))]
            versions[os.path.relpath(folder, warehouse)] = max(commits, default=-1)
            dirs.clear()  # a table's own folders hold no other table
    return dict(sorted(versions.items()))


def seen(settings: Settings, command: list) -> dict | None:
    """What a run starts from: its command, settings, code, specs and landing files; None when
    the landing files or the tables are not on this machine's disk (object storage: a listing
    and a table's log are then a service's, not read here)."""
    if not (_is_local(settings.landing_uri) and _is_local(settings.warehouse_uri)):
        return None
    landing = _local(settings.landing_uri)
    return {"command": command,
            "settings": settings.model_dump_json(),
            "code": code(),
            "specs": specs_digest(settings),
            "landing": digest(_files(landing, folders=True)) if landing.is_dir() else None}


def unchanged(settings: Settings, start: dict | None) -> str | None:
    """The run id of the last clean run, if this run would start where it left everything."""
    if start is None:
        return None
    path = settings.home / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if state.get("seen") != start or state.get("tables") != table_versions(settings):
        return None
    return state.get("run_id")


def record(settings: Settings, start: dict | None, run_id: str) -> None:
    """After a clean run: what it started from, and the tables as it left them."""
    if start is None:
        return
    write_private(settings.home / STATE_FILE, json.dumps({"run_id": run_id, "seen": start,
                                                          "tables": table_versions(settings)}))


def forget(settings: Settings) -> None:
    """A run that did not end cleanly leaves no state to trust."""
    (settings.home / STATE_FILE).unlink(missing_ok=True)
