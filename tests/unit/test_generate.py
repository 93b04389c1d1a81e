import json
from pathlib import Path

from lakehouse.generate import COLUMNS, MANIFEST, generate


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    generate(tmp_path / "a", scale=0.05, seed=7, days=2)
    generate(tmp_path / "b", scale=0.05, seed=7, days=2)
    generate(tmp_path / "c", scale=0.05, seed=8, days=2)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_manifest_counts_match_the_files(tmp_path):
    manifest = generate(tmp_path, scale=0.1, seed=1, days=3)
    assert json.loads((tmp_path / MANIFEST).read_text()) == manifest
    for batch_id, datasets in manifest["batches"].items():
        for dataset, counts in datasets.items():
            (path,) = (tmp_path / dataset / batch_id).iterdir()
            lines = path.read_text().splitlines()
            data = lines[1:] if path.suffix == ".csv" else lines
            assert len(data) == counts["rows"], (dataset, batch_id)
            parts = ["inserts", "updates", "deletes", "superseded", "duplicates", "null_required", "malformed",
                     "out_of_range", "orphans"]
            assert sum(counts[p] for p in parts) == counts["rows"]
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
