import csv
import json
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from lakehouse._landing_text import Id, Lookup, Number, write
from lakehouse.generate import COLUMNS, DEFECTS, FORMATS, MANIFEST, ORPHAN_CUSTOMER, STATUS_FLOW, generate

PARTS = ["inserts", "updates", "deletes", "superseded", "duplicates", "null_required", "malformed", "out_of_range",
         "orphans"]


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    generate(tmp_path / "a", scale=0.05, seed=7, days=2)
    generate(tmp_path / "b", scale=0.05, seed=7, days=2)
    generate(tmp_path / "c", scale=0.05, seed=8, days=2)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_the_first_days_of_a_longer_run_are_the_shorter_run(tmp_path):
    """The platform test uploads days 3-4 of a 4-day run on top of a 2-day run."""
    start = date(2026, 3, 1)
    short = generate(tmp_path / "short", scale=0.2, seed=5, days=2, start_date=start)
    long = generate(tmp_path / "long", scale=0.2, seed=5, days=4, start_date=start)
    short_files = {k: v for k, v in _files(tmp_path / "short").items() if k != MANIFEST}
    long_files = _files(tmp_path / "long")
    assert short_files and all(long_files[k] == v for k, v in short_files.items())
    assert {k: long["batches"][k] for k in short["batches"]} == short["batches"]
    assert len(long_files) == 2 * len(short_files) + 1


def test_manifest_counts_match_the_files(tmp_path):
    manifest = generate(tmp_path, scale=0.1, seed=1, days=3)
    assert json.loads((tmp_path / MANIFEST).read_text()) == manifest
    for batch_id, datasets in manifest["batches"].items():
        for dataset, counts in datasets.items():
            (path,) = (tmp_path / dataset / batch_id).iterdir()
            lines = path.read_text().splitlines()
            data = lines[1:] if path.suffix == ".csv" else lines
            assert len(data) == counts["rows"], (dataset, batch_id)
            assert sum(counts[p] for p in PARTS) == counts["rows"]
    assert list(COLUMNS) == sorted(manifest["final"], key=list(COLUMNS).index)


def test_every_defect_kind_is_injected(tmp_path):
    manifest = generate(tmp_path, scale=0.5, seed=3, days=3)
    totals = {}
    for datasets in manifest["batches"].values():
        for counts in datasets.values():
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
    for kind in ("duplicates", "null_required", "malformed", "out_of_range", "orphans", "updates", "deletes",
                 "superseded"):
        assert totals[kind] > 0, kind


# -- the records mean what the manifest says -------------------------------------------------
def _parse(dataset: str, line: str) -> dict | None:
    """A record, or None for a malformed line. Well-formed lines are exactly what the csv and
    json modules write for the record."""
    if FORMATS[dataset] == "csv":
        (values,) = csv.reader([line])
        if len(values) != len(COLUMNS[dataset]):
            return None
        out = csv.StringIO()
        csv.writer(out, lineterminator="").writerow(values)
        assert out.getvalue() == line
        return dict(zip(COLUMNS[dataset], [v or None for v in values]))
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    assert list(record) == COLUMNS[dataset] and json.dumps(record, ensure_ascii=False) == line
    return record


def _key(dataset: str, r: dict) -> tuple:
    return (r["order_id"], r["line_no"]) if dataset == "order_items" else (r[COLUMNS[dataset][0]],)


def _time(r: dict) -> datetime:
    return datetime.fromisoformat(r["updated_at"].rstrip("Z").replace("T", " "))


def _defect(dataset: str, r: dict) -> str | None:
    null_column, (bad_column, bad_value) = DEFECTS[dataset]
    if r[null_column] is None:
        return "null_required"
    if r[bad_column] == (float(bad_value) if dataset == "products" else bad_value):
        return "out_of_range"
    if dataset == "orders" and r["customer_id"] == ORPHAN_CUSTOMER:
        return "orphans"
    return None


def _cents(price) -> int:
    return round(float(price) * 100)


def _check_change(dataset: str, r: dict, old: dict | None, live: dict) -> None:
    """An insert of a fresh key, or a valid change of a live one, consistent with the others."""
    if r["op"] == "I":
        assert old is None
    else:
        assert old is not None and _time(r) > _time(old), (dataset, r)
    if dataset == "customers" and r["op"] == "U":
        changed = {k for k in COLUMNS[dataset] if r[k] != old[k]} - {"updated_at", "op"}
        assert changed in ({"country"}, {"segment"}), (r, old)
    elif dataset == "products" and r["op"] == "U":
        assert _cents(r["price"]) == (_cents(old["price"]) * 105 + 50) // 100 and r["name"] == old["name"]
    elif dataset == "orders" and r["op"] == "I":
        customer = live["customers"][(r["customer_id"],)]  # a live customer, and where they live
        assert r["status"] == "placed" and r["ship_country"] == customer["country"] and r["order_ts"] == r["updated_at"]
    elif dataset == "orders" and r["op"] == "U":
        assert r["status"] in (STATUS_FLOW.get(old["status"]), "cancelled") and old["status"] in STATUS_FLOW
        assert {k: r[k] for k in ("customer_id", "order_ts", "ship_country")} == \
            {k: old[k] for k in ("customer_id", "order_ts", "ship_country")}
    elif dataset == "order_items" and r["op"] == "I":
        order, product = live["orders"][(r["order_id"],)], live["products"][(r["product_id"],)]
        assert order["updated_at"] == r["updated_at"].rstrip("Z").replace("T", " ") and 1 <= r["line_no"] <= 4
        assert r["unit_price"] == product["price"]  # bought at the product's current price
    if r["op"] == "D":
        assert {k: v for k, v in r.items() if k not in ("updated_at", "op")} == \
            {k: v for k, v in old.items() if k not in ("updated_at", "op")}


def _replay(root: Path, manifest: dict) -> None:
    """Apply every batch in event order, checking each record and the manifest's counts."""
    live = {d: {} for d in COLUMNS}
    seen = {d: set() for d in COLUMNS}  # every key ever written: defects use fresh ones
    history = 0
    for batch_id, datasets in manifest["batches"].items():
        records, counts = [], {d: Counter() for d in COLUMNS}
        for rank, dataset in enumerate(COLUMNS):
            (path,) = (root / dataset / batch_id).iterdir()
            lines = path.read_text(encoding="utf-8").splitlines()[1 if FORMATS[dataset] == "csv" else 0:]
            parsed = [(line, _parse(dataset, line)) for line in lines]
            copies, keys = Counter(lines), Counter(_key(dataset, r) for _, r in parsed if r)
            for line, r in parsed:
                if r is None:
                    counts[dataset]["malformed"] += 1
                elif copies[line] > 1:  # an exact copy of an insert whose key has no other version here
                    assert copies[line] == keys[_key(dataset, r)] == 2 and r["op"] == "I" and not _defect(dataset, r)
                    copies[line] -= 1
                    counts[dataset]["duplicates"] += 1
                elif kind := _defect(dataset, r):
                    assert _key(dataset, r) not in seen[dataset] and r["op"] == "I"
                    seen[dataset].add(_key(dataset, r))
                    counts[dataset][kind] += 1
                else:  # at one time, orders come before their lines
                    records.append((_time(r), rank, dataset, r))
        batch_keys = {d: set() for d in COLUMNS}
        for _, _, dataset, r in sorted(records, key=lambda x: x[:2]):
            key = _key(dataset, r)
            assert r["op"] != "I" or key not in seen[dataset], (dataset, r)
            _check_change(dataset, r, live[dataset].get(key), live)
            kind = {"I": "inserts", "U": "superseded" if key in batch_keys[dataset] else "updates", "D": "deletes"}
            counts[dataset][kind[r["op"]]] += 1
            history += dataset == "customers" and r["op"] != "D"
            seen[dataset].add(key)
            batch_keys[dataset].add(key)
            if r["op"] == "D":
                del live[dataset][key]
            else:
                live[dataset][key] = r
        assert {(k[0],) for k in live["order_items"]} == set(live["orders"]), "lines live exactly with their order"
        for dataset, m in datasets.items():
            assert counts[dataset] == Counter({k: v for k, v in m.items() if k in PARTS and v}), (batch_id, dataset)
    final = manifest["final"]
    assert {d: len(live[d]) for d in COLUMNS} == {d: final[d]["live_keys"] for d in COLUMNS}
    assert history == final["customers"]["history_rows"]
    assert all(1 <= n <= 4 for n in Counter(k[0] for k in live["order_items"]).values())


@pytest.mark.parametrize("scale, seed", [(0.3, 11), (2.0, 4)])
def test_every_record_is_a_valid_change_and_the_manifest_counts_them(tmp_path, scale, seed):
    _replay(tmp_path, generate(tmp_path, scale=scale, seed=seed, days=4))


def test_versions_stay_ordered_when_a_day_has_more_events_than_seconds(tmp_path):
    manifest = generate(tmp_path, scale=60, seed=2, days=2)
    for batch_id, datasets in manifest["batches"].items():
        events = sum(datasets[d]["rows"] - datasets[d]["duplicates"] for d in ("customers", "products", "orders"))
        assert events > 86_400
        (path,) = (tmp_path / "orders" / batch_id).iterdir()
        with path.open(encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r["op"] and r["order_ts"]]
        assert all(r["updated_at"].startswith(batch_id) for r in rows)
        paid_today = [r for r in rows if r["op"] == "U" and r["order_ts"].startswith(batch_id)]
        assert paid_today and all(r["updated_at"] > r["order_ts"] for r in paid_today)


def test_ids_widen_past_seven_digits_and_prices_are_json_floats(tmp_path):
    cents = np.array([0, 7, 10, 50, 99, 100, 1250, 1234567, 50_000])
    ids = np.array([1, 9_999_999, 10_000_000, 12, 3, 4, 5, 6, 7])
    frame = {"id": ids, "price": cents, "op": np.zeros(len(ids), np.int8)}
    columns = {"id": Id("P", "id"), "price": Number("price", cents=True), "op": Lookup("op", ("I",))}
    none = np.zeros(len(ids), bool)
    write(tmp_path / "x.jsonl", columns, "jsonl", frame, [], none, np.random.default_rng(0))
    lines = sorted((tmp_path / "x.jsonl").read_text().splitlines(), key=lambda x: json.loads(x)["price"])
    assert lines == [json.dumps({"id": f"P{i:07d}", "price": float(f"{c // 100}.{c % 100:02d}"), "op": "I"})
                     for i, c in sorted(zip(ids, cents), key=lambda x: x[1])]


def test_product_names_say_their_category(tmp_path):
    """"Fashion item ..." is in fashion, never in books (a defect planted in the category aside)."""
    generate(tmp_path, scale=0.5, seed=3, days=3)
    named = []
    for path in (tmp_path / "products").rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a malformed line planted on purpose
            name, category = record.get("name"), record.get("category")
            if isinstance(name, str) and isinstance(category, str) and category.islower():
                named.append((name.split(" item ")[0].lower(), category))
    assert len(named) > 50
    agree = sum(prefix == category for prefix, category in named)
    assert agree == len(named), [n for n in named if n[0] != n[1]][:5]
