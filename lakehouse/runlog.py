"""The run log: `<home>/logs/<run_id>.log`, what a run keeps beyond the one line its error
shows (the full list behind a message that names only a few). Lines are appended, each
stamped with the UTC time; a run that has nothing to say writes no file.

The home's log, `<home>/logs/lakehouse.log`: an embedded Spark session's own logging (Spark,
Delta: spark/conf/log4j2.properties) and the full trace behind an
unexpected error the CLI shows as one line."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, UTC
from pathlib import Path

from lakehouse.config import Settings


def path(settings: Settings, run_id: str) -> Path:
    return settings.home / "logs" / f"{run_id}.log"


def home_log(home: Path) -> Path:
    return home / "logs" / "lakehouse.log"


def append(log: Path, lines: Iterable[str]) -> Path:
    log.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with log.open("a") as out:
        out.writelines(f"{stamp} {line}\n" for line in lines)
    return log
