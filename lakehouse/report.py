"""The run summary a person reads at a glance, and tables of query results."""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lakehouse import timings
from lakehouse.config import SILVER
from lakehouse.layers.reprocess import Replayed
from lakehouse.pipeline import PipelineResult
from lakehouse.runs import OUTCOMES, REPLAY


def summary_table(result: PipelineResult, elapsed_s: float) -> Table:
    per_dataset: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for run in result.by_layer("bronze") + result.by_layer("silver"):
        row = per_dataset[run.table_name.split(".", 1)[1]]
        if run.layer == "bronze":
            row["bronze"] += run.inserted
            row["batches"] += 1
        else:
            for k in OUTCOMES:
                row[k] += getattr(run, k)
        row["seconds"] += run.duration_s
    table = Table(title=f"lakehouse run {result.run_id}: {elapsed_s:.1f}s", title_justify="left")
    for name, justify in [("dataset", "left"), ("batches", "right"), ("bronze rows", "right"), ("inserted", "right"),
                          ("updated", "right"), ("deleted", "right"), ("quarantined", "right"),
                          ("duplicates", "right"), ("superseded", "right"), ("time", "right")]:
        table.add_column(name, justify=justify)
    for name, row in sorted(per_dataset.items()):
        table.add_row(name, *[f"{int(row[k]):,}" for k in ("batches", "bronze", "inserted", "updated", "deleted",
                                                            "quarantined", "duplicates", "superseded")],
                      f"{row['seconds']:.1f}s")
    for run in result.by_layer("gold"):
        table.add_row(run.table_name, "", f"{run.rows_read:,} rows", f"{run.inserted:,}", f"{run.updated:,}",
                      f"{run.deleted:,}", "", "", "", f"{run.duration_s:.1f}s", style="cyan")
    return table


def quality_table(result: PipelineResult) -> Table:
    """Per table: each rule that some records broke (checked, passed, failed, what that did),
    then one row for the rules every record passed, so the table stays short."""
    table = Table(title="quality checks (Great Expectations)", title_justify="left")
    for name, justify in [("table", "left"), ("rule", "left"), ("checked", "right"), ("passed", "right"),
                          ("failed", "right"), ("action", "left"), ("result", "left")]:
        table.add_column(name, justify=justify)
    totals: dict[str, dict[str, list]] = {}
    for v in result.validations:
        for r in v.results:
            row = totals.setdefault(v.table_name, {}).setdefault(r.rule, [0, 0, r.action, set()])
            row[0] += r.element_count
            row[1] += r.unexpected_count
            row[3].add(r.outcome)
    for table_name, rules in totals.items():
        clean = [rule for rule, (_, failed, _, _) in rules.items() if not failed]
        for rule, (checked, failed, action, outcomes) in rules.items():
            if failed:
                outcome = ", ".join(sorted(outcomes - {"passed"}))
                table.add_row(table_name, rule, f"{checked:,}", f"{checked - failed:,}", f"{failed:,}", action,
                              outcome, style="red" if action == "fail" else "yellow")
        if clean:
            checked = max(rules[rule][0] for rule in clean)
            table.add_row(table_name, f"{len(clean)} more rule(s)", f"{checked:,}", f"{checked:,}", "0", "",
                          "passed", style="dim")
    return table


def print_notices(console: Console, result: PipelineResult) -> None:
    for notice in result.notices:
        console.print(Text(notice, style="yellow"))  # a path may hold [ ], which markup would eat


def print_summary(console: Console, result: PipelineResult, elapsed_s: float,
                  spent: dict[str, float] | None = None) -> None:
    """`spent`: where the run's time went (lakehouse.timings), one line at the end."""
    _print_summary(console, result, elapsed_s)
    if spent:
        console.print(f"time {elapsed_s:.1f}s: {timings.summary(spent)}", highlight=False)


def _print_summary(console: Console, result: PipelineResult, elapsed_s: float) -> None:
    if not result.runs:
        console.print(f"[green]Nothing new to process[/] (run {result.run_id}, {elapsed_s:.1f}s): "
                      + ("nothing landed that a batch can load yet." if result.notices else
                         "every landing batch is already in bronze, silver and gold."))
        print_notices(console, result)
        return
    print_notices(console, result)
    console.print(summary_table(result, elapsed_s))
    rules: dict[str, int] = defaultdict(int)
    for run in result.by_layer("silver"):
        for rule, n in run.quarantined_by_rule.items():
            rules[rule] += n
    if rules:
        console.print("quarantined by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(rules.items()))
                      + "  (see ops.quarantine)")
    warnings: dict[str, int] = defaultdict(int)
    for run in result.by_layer("silver"):
        for rule, n in run.warnings.items():
            warnings[rule] += n
    if warnings:
        console.print("warnings (kept): " + ", ".join(f"{k} {v}" for k, v in sorted(warnings.items())))
    if result.validations:
        console.print(quality_table(result))
        console.print(f"validation results: ops.validations; Data Docs: {result.data_docs}")
    if result.published:
        console.print("published: " + ", ".join(f"{p.table_name} v{p.delta_version} ({p.row_count:,} rows)"
                                                for p in result.published) + "  (see ops.published)")


def print_replay(console: Console, replayed: Replayed, result: PipelineResult, elapsed_s: float) -> None:
    """What `lakehouse reprocess` did: per batch, where the replayed records went."""
    what = (f"records of {replayed.dataset} that {replayed.rule} quarantined" if replayed.rule
            else f"records of {len(replayed.files)} file(s) of {replayed.dataset} read again")
    if replayed.unchanged:
        console.print(f"as when last loaded or read, not read again: {', '.join(replayed.unchanged)}", highlight=False)
    if not replayed.found:
        where = "ops.quarantine holds no such records" if replayed.rule else "no file changed"
        console.print(f"{where}: nothing to replay (run {result.run_id}, {elapsed_s:.1f}s)")
        return
    if not replayed.runs:
        console.print(f"{replayed.found:,} {what}: every one still breaks it, nothing changed "
                      f"(run {result.run_id}, {elapsed_s:.1f}s)")
        return
    table = Table(title=f"lakehouse reprocess {result.run_id}: {replayed.found:,} {what}, {elapsed_s:.1f}s",
                  title_justify="left")
    counts = ("rows_read", "inserted", "updated", "deleted", "superseded", "duplicates", "dropped", "quarantined")
    table.add_column("batch")
    for name in ("replayed", *counts[1:-1], "still quarantined"):
        table.add_column(name, justify="right")
    for run in result.by_layer(REPLAY):
        if run.table_name.startswith(f"{SILVER}."):  # bronze's runs are the files read again
            table.add_row(run.batch_id, *[f"{getattr(run, k):,}" for k in counts])
    console.print(table)
    still = defaultdict(int)
    for run in result.by_layer(REPLAY):
        for detail in filter(None, [run.detail]):
            console.print(f"{run.table_name} {run.batch_id}: {detail}", highlight=False)
        for rule, n in run.quarantined_by_rule.items():
            still[rule] += n
    if still:
        console.print("still quarantined by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(still.items()))
                      + "  (see ops.quarantine)")
    for run in result.by_layer("gold"):
        console.print(f"gold {run.table_name}: {run.rows_read:,} rows ({run.inserted:,} inserted, "
                      f"{run.updated:,} updated, {run.deleted:,} deleted)", highlight=False)
    if result.published:
        console.print("published: " + ", ".join(f"{p.table_name} v{p.delta_version}" for p in result.published))


def render_rows(columns: list[str], rows: Iterable[tuple], fmt: str, console: Console) -> None:
    # csv and json go to stdout untouched by rich, for other programs to read, row by row: a
    # large result is never held whole.
    if fmt == "json":
        sys.stdout.write("[")
        for i, r in enumerate(rows):
            sys.stdout.write(("," if i else "") + json.dumps(dict(zip(columns, r)), default=str))
        sys.stdout.write("]\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        table = Table(*columns)
        for r in rows:
            table.add_row(*["NULL" if v is None else str(v) for v in r])
        console.print(table)
