"""What every `lakehouse` command shares: the typer app, the consoles, the one-line error
handling and the common options. Commands live in lakehouse/cli.py (pipeline) and
lakehouse/platform/commands.py (services)."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from lakehouse import runlog
from lakehouse.config import Settings, load_settings
from lakehouse.errors import LakehouseError, one_line

app = typer.Typer(help="Medallion lakehouse: Spark + Delta Lake, bronze -> silver -> gold.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
# Rich assumes 80 columns when output is not a terminal (CI logs, pipes): the summary needs more.
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


class Profile(str, Enum):
    local = "local"
    cluster = "cluster"


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def user_errors(fn):
    """Turn any failure into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except LakehouseError as exc:
            err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        except KeyboardInterrupt:
            err_console.print("[red]error:[/] interrupted; every batch is atomic, rerun to resume")
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the user gets one line, the debug flag the rest
            if os.environ.get("LAKEHOUSE_DEBUG") == "1":
                raise
            log = _log_trace(exc)
            err_console.print(f"[red]error:[/] {one_line(exc)}" + (f" (full trace: {log})" if log else ""),
                              highlight=False, soft_wrap=True)
        raise typer.Exit(1)

    return wrapper


def _log_trace(exc: BaseException) -> Path | None:
    """The full trace of an unexpected error, appended to the home's log (beside the JVM's
    own logging), or None when it cannot be written."""
    home = Path(os.environ.get("LAKEHOUSE_HOME") or Settings.model_fields["home"].default)
    trace = "".join(traceback.format_exception(exc)).rstrip().splitlines()
    try:
        return runlog.append(runlog.home_log(home), trace)
    except OSError:
        return None


def profile_settings(profile: Profile | None, wait: bool = False, **overrides) -> Settings:
    # Without --wait, LAKEHOUSE_WAIT_FOR_LAKEHOUSE decides.
    return load_settings(profile=profile.value if profile else None, wait_for_lakehouse=wait or None, **overrides)


def start_session(settings: Settings, app_name: str, writes: bool = True):
    from lakehouse.spark import build_session

    with console.status("starting Spark"):
        return build_session(settings, app_name, writes)


ProfileOpt = typer.Option(None, "--profile", "-p", help="local (default) or cluster; env LAKEHOUSE_PROFILE")
HomeOpt = typer.Option(None, "--home", help="runtime directory; env LAKEHOUSE_HOME")
WaitOpt = typer.Option(False, "--wait", help="if another process is writing this lakehouse, wait for it to end "
                       "instead of exiting; env LAKEHOUSE_WAIT_FOR_LAKEHOUSE")
