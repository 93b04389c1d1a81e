"""A CSV export in its own dialect and character set lands by spec alone: a spreadsheet's
semicolons, windows-1252 and a field holding a line break, a database dump's backslash
escapes. Values land as written, a line the charset does not define is quarantined with its
reason, and accounting closes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lakehouse import tables
from lakehouse.config import PROJECT_ROOT
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration
DAY1 = "2026-01-01"
HEADER = "customer_id;email;full_name;country;segment;signup_date;updated_at;op"


def _catalog(tmp_path, **source):
    specs = tmp_path / "specs"
    shutil.copytree(PROJECT_ROOT / "pipelines", specs)
    path = specs / "datasets" / "customers.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["source"] = {"format": "csv", **source}
    path.write_text(yaml.safe_dump(spec))
    return load_catalog(specs)


def _land(settings, data: bytes) -> None:
    folder = Path(settings.landing_uri) / "customers" / DAY1
    folder.mkdir(parents=True)
    (folder / "customers.csv").write_bytes(data)


def _run(spark, settings, catalog):
    result = run_pipeline(spark, settings, catalog, datasets=["customers"], layers=("bronze", "silver"))
    [bronze] = result.by_layer("bronze")
    [silver] = result.by_layer("silver")
    assert bronze.rows_read == silver.rows_read == silver.accounted
    return silver


def test_a_windows_1252_export_with_semicolons_lands_as_written(spark, lakehouse, tmp_path):
    catalog = _catalog(tmp_path, delimiter=";", encoding="windows-1252")
    text = "\r\n".join([
        HEADER,
        "C1;c1@example.com;Müller, Jürgen;DE;consumer;2025-06-01;2026-01-01 10:00:00;I",
        'C2;c2@example.com;"Café ""Zur Post""; Inh. Dupré";FR;consumer;2025-06-01;2026-01-01 10:00:00;I',
        'C4;c4@example.com;"Zeile eins;\r\nZeile zwei";DE;consumer;2025-06-01;2026-01-01 10:00:00;I',  # one record
    ]) + "\r\n"
    _land(lakehouse, text.encode("cp1252") + b"C3;c3@example.com;Bad \x81 byte;DE;consumer;2025-06-01;"
                                             b"2026-01-01 10:00:00;I\r\n")
    silver = _run(spark, lakehouse, catalog)
    assert (silver.inserted, silver.quarantined) == (3, 1)
    names = {r["customer_id"]: r["full_name"] for r in spark.table("silver.customers").collect()}
    assert names == {"C1": "Müller, Jürgen", "C2": 'Café "Zur Post"; Inh. Dupré', "C4": "Zeile eins;\nZeile zwei"}
    [bronze] = spark.table(tables.AUDIT_TABLE).where("layer = 'bronze'").collect()
    assert "1 line(s) continue a record" in bronze["detail"]
    [q] = spark.table(tables.QUARANTINE_TABLE).where("dataset = 'customers'").collect()
    assert q["rule"] == "malformed" and q["reason"].startswith("not valid windows-1252")
    assert "Bad \ufffd byte" in q["raw"]


def test_a_dump_with_backslash_escapes_lands_its_quotes(spark, lakehouse, tmp_path):
    catalog = _catalog(tmp_path, escape="\\")
    lines = ["customer_id,email,full_name,country,segment,signup_date,updated_at,op",
             'C1,c1@example.com,"O\\"Brien, Pat \\\\ Co",DE,consumer,2025-06-01,2026-01-01 10:00:00,I',
             'C2,c2@example.com,"unclosed \\",DE,consumer,2025-06-01,2026-01-01 10:00:00,I']
    _land(lakehouse, ("\n".join(lines) + "\n").encode())
    silver = _run(spark, lakehouse, catalog)
    assert (silver.inserted, silver.quarantined) == (1, 1)
    [row] = spark.table("silver.customers").collect()
    assert row["full_name"] == 'O"Brien, Pat \\ Co'
