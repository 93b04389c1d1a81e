"""The schema-evolution plan: what a spec change does to an existing table, without Spark."""

from __future__ import annotations

import pytest

from lakehouse.schema_evolution import AddColumn, SchemaChangeRefused, Wanted, WidenType, plan, widens

HELD = {"id": "string", "qty": "int", "price": "decimal(10,2)", "_batch_id": "string"}


def test_same_columns_in_any_order_change_nothing():
    assert plan("silver.t", HELD, [Wanted(n, t) for n, t in reversed(HELD.items())]) == []


def test_a_new_optional_column_is_added_where_the_spec_puts_it():
    wanted = [Wanted("new_first", "string", comment="c"), Wanted("id", "string"), Wanted("qty", "int"),
                     Wanted("tier", "string"), Wanted("note", "date"), Wanted("price", "decimal(10,2)"),
                     Wanted("_batch_id", "string")]
    assert plan("silver.t", HELD, wanted) == [
        AddColumn("new_first", "string", "c", None), AddColumn("tier", "string", "", "qty"),
        AddColumn("note", "date", "", "tier")]


@pytest.mark.parametrize("held, wanted", [("int", "bigint"), ("decimal(10,2)", "decimal(12,3)"),
                                          ("decimal(10,2)", "decimal(11,2)"), ("decimal(5,0)", "decimal(38,10)")])
def test_widenings_keep_every_value(held, wanted):
    assert widens(held, wanted)


@pytest.mark.parametrize("held, wanted", [
    ("bigint", "int"), ("int", "string"), ("string", "int"), ("int", "double"), ("decimal(10,2)", "decimal(10,3)"),
    ("decimal(10,2)", "decimal(10,1)"), ("decimal(10,2)", "decimal(10,2)"), ("date", "timestamp")])
def test_anything_else_is_no_widening(held, wanted):
    assert not widens(held, wanted)


def test_a_widened_type_is_planned_and_a_narrowed_one_refused():
    wanted = [Wanted("id", "string"), Wanted("qty", "bigint"), Wanted("price", "decimal(12,3)"),
              Wanted("_batch_id", "string")]
    assert plan("silver.t", HELD, wanted) == [WidenType("qty", "bigint"), WidenType("price", "decimal(12,3)")]
    narrowed = [w if w.name != "price" else Wanted("price", "decimal(9,2)") for w in wanted]
    with pytest.raises(SchemaChangeRefused, match=r"^silver\.t: column price is decimal\(10,2\) in the table and "
                                                  r"decimal\(9,2\) in the spec; only a widening .*: declare it "
                                                  r"decimal\(10,2\) again"):
        plan("silver.t", HELD, narrowed)


def test_a_dropped_column_is_refused_naming_it():
    with pytest.raises(SchemaChangeRefused, match=r"^bronze\.t: column qty is in the table but no longer in the spec"):
        plan("bronze.t", HELD, [Wanted(n, t) for n, t in HELD.items() if n != "qty"])


def test_a_new_required_column_is_refused():
    wanted = [Wanted(n, t) for n, t in HELD.items()] + [Wanted("must", "string", required=True)]
    with pytest.raises(SchemaChangeRefused, match=r"^silver\.t: new column must is required, .* declare it without "
                                                  r"required: true$"):
        plan("silver.t", HELD, wanted)


def test_a_changed_scd_is_refused():
    scd2 = [Wanted(n, t) for n, t in HELD.items()] + [Wanted("valid_from", "timestamp"),
                                                      Wanted("valid_to", "timestamp"), Wanted("is_current", "boolean")]
    with pytest.raises(SchemaChangeRefused, match=r"^silver\.t: the spec's scd changed"):
        plan("silver.t", HELD, scd2)
    held_scd2 = {w.name: w.type for w in scd2}
    with pytest.raises(SchemaChangeRefused, match=r"^silver\.t: the spec's scd changed"):
        plan("silver.t", held_scd2, [Wanted(n, t) for n, t in HELD.items()])


def test_a_column_that_became_the_operation_column_is_refused_naming_it():
    with pytest.raises(SchemaChangeRefused, match=r"^silver\.t: column qty became the spec's operation column"):
        plan("silver.t", HELD, [Wanted(n, t) for n, t in HELD.items() if n != "qty"], operation="qty")


def test_arrival_order_is_added_by_dropping_the_ordering_and_never_removed():
    wanted = [Wanted(n, t) for n, t in HELD.items()]
    assert plan("silver.t", HELD, [*wanted, Wanted("_arrival", "string")]) == [
        AddColumn("_arrival", "string", "", wanted[-1].name)]
    with pytest.raises(SchemaChangeRefused, match=r"^silver\.t: the table orders versions by arrival"):
        plan("silver.t", {**HELD, "_arrival": "string"}, wanted)


def test_only_an_upsert_table_may_change_mode_and_only_to_snapshot():
    from lakehouse.schema_evolution import SetMode, mode_change

    assert mode_change("silver.t", "upsert", "upsert") is None
    assert mode_change("silver.t", "upsert", "snapshot") == SetMode("snapshot")
    for held, wanted in [("snapshot", "upsert"), ("append", "upsert"), ("upsert", "append"), ("snapshot", "append")]:
        with pytest.raises(SchemaChangeRefused, match=rf"^silver\.t: the spec.s mode is {wanted}, the table was "):
            mode_change("silver.t", held, wanted)
