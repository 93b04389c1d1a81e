"""The dashboards as code (superset/assets, Superset's own export format), both ways:

  manage.py provision     metadata schema, roles, the admin account, then import the assets
  manage.py export DIR    write every database, dataset, chart and dashboard back as YAML
  manage.py add-user NAME ROLE   a login (password from SUPERSET_NEW_USER_PASSWORD) with a role

Runs with Superset's own Python (its environment is separate from the platform's), started
by `lakehouse up` before the web server, `lakehouse superset provision` and `lakehouse
superset export`. Everything it needs comes from the environment that
lakehouse/platform/superset.py builds:

  SUPERSET_ADMIN_USER, SUPERSET_ADMIN_PASSWORD   the admin account (password reset each time)
  LAKEHOUSE_THRIFT_URI                           hive://user@host:port/gold?auth=CUSTOM
  LAKEHOUSE_THRIFT_PASSWORD                      the Thrift server's password
  LAKEHOUSE_THRIFT_TLS_CA                        its CA (superset_config.py connects over TLS)

Assets are imported with overwrite, keyed by their UUIDs: a second run updates the same
database, datasets, charts and dashboard and creates nothing new.

What `provision` imports is LAKEHOUSE_SUPERSET_BUNDLE when set: superset/assets plus the
datasets and the "Data quality" dashboard generated from the specs
(lakehouse/platform/superset_datasets.py writes it). A generated dataset names its spec in
`extra`; provisioning gives it the columns the Thrift server reports, and removes a
generated dataset whose spec is gone unless a chart or a dashboard filter uses it. Generated
charts and dashboards are certified by GENERATED_BY; provisioning removes such a chart the
bundle no longer has. `export` leaves everything generated out (the specs make it), except a
generated dataset an exported chart uses.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

ASSETS = Path(__file__).resolve().parent / "assets"
KINDS = ("databases", "datasets", "charts", "dashboards")
# Analysts open dashboards and explore the datasets, and nothing more: Superset's Gamma role
# plus read access to every dataset, without SQL Lab (Gamma has none; the `sql_lab` role
# grants it, to the users an admin adds it to). Whatever SQL Lab runs, the Thrift server
# serves reads of the lakehouse's tables only (spark/thrift-auth/ReadOnlySqlGuard.java).
ANALYST_ROLE = "Analyst"
# lakehouse.platform.superset_datasets.GENERATED (this runs with Superset's Python, without
# the lakehouse package; a unit test keeps the two equal).
GENERATED = "lakehouse_generated"
# lakehouse.platform.superset_quality.GENERATED_BY: the certification of the generated charts
# and dashboard (the "Data quality" dashboard), equal by the same unit test.
GENERATED_BY = "lakehouse (generated from the specs)"


def read_assets(root: Path, thrift_uri: str) -> dict[str, str]:
    """The bundle as the importer expects it (relative path -> YAML text), with the
    database's address replaced by this platform's Thrift server. The URI carries Superset's
    password mask, as in an export: the importer then keeps the password it is given apart
    (a URI without one would clear it)."""
    from sqlalchemy.engine.url import make_url
    from superset.constants import PASSWORD_MASK

    masked = make_url(thrift_uri).set(password=PASSWORD_MASK).render_as_string(hide_password=False)
    contents = {}
    for path in sorted(root.rglob("*.yaml")):
        name = path.relative_to(root).as_posix()
        text = path.read_text()
        if name.startswith("databases/"):
            config = yaml.safe_load(text)
            config["sqlalchemy_uri"] = masked
            text = yaml.safe_dump(config, sort_keys=False)
        contents[name] = text
    return contents


def provision() -> str:
    from flask_migrate import upgrade
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.extensions import appbuilder, security_manager
    from superset.utils.core import override_user

    upgrade()  # `superset db upgrade`
    appbuilder.add_permissions(update_perms=True)  # `superset init`
    security_manager.sync_role_definitions()
    _ensure_analyst_role(security_manager)
    admin = _ensure_admin(security_manager, os.environ["SUPERSET_ADMIN_USER"], os.environ["SUPERSET_ADMIN_PASSWORD"])
    bundle = os.environ.get("LAKEHOUSE_SUPERSET_BUNDLE")
    contents = read_assets(Path(bundle) if bundle else ASSETS, os.environ["LAKEHOUSE_THRIFT_URI"])
    generated = _generated(contents)  # parsed once; the two steps below change both
    deferred = _defer_to_datasets_made_in_superset(contents, generated)
    _keep_the_synced_columns(contents, generated)
    passwords = {name: os.environ["LAKEHOUSE_THRIFT_PASSWORD"] for name in contents if name.startswith("databases/")}
    with override_user(admin):
        ImportAssetsCommand(contents, passwords=passwords).run()
    counts = {kind: sum(name.startswith(kind + "/") for name in contents) for kind in KINDS}
    summary = "provisioned " + ", ".join(f"{n} {kind}" for kind, n in counts.items())
    # Without the bundle (superset/assets alone) nothing generated is wanted, and nothing is
    # removed for that reason.
    if not bundle:
        return summary
    stale = _remove_stale_generated_charts(contents)
    summary += f"; removed generated charts no spec makes: {', '.join(stale)}" if stale else ""
    return summary + "; " + sync_generated(generated, deferred)


def _generated(contents: dict[str, str]) -> dict[str, dict]:
    """The generated datasets of the bundle, by their path in it."""
    docs = {name: yaml.safe_load(text) for name, text in contents.items() if name.startswith("datasets/")}
    return {name: doc for name, doc in docs.items() if (doc.get("extra") or {}).get(GENERATED)}


def _marked(dataset) -> dict | None:
    return json.loads(dataset.extra or "{}").get(GENERATED)


def _defer_to_datasets_made_in_superset(contents: dict[str, str], generated: dict[str, dict]) -> list[str]:
    """A table somebody gave a dataset in Superset's UI keeps that dataset: the generated one
    is not imported over it (the import would match it by table and replace its columns,
    metrics and identity). Returns those tables."""
    from superset.connectors.sqla.models import SqlaTable
    from superset.extensions import db

    deferred, moved = [], {}
    for name, doc in list(generated.items()):
        own = [d for d in db.session.query(SqlaTable).filter_by(schema=doc["schema"], table_name=doc["table_name"])
               if str(d.uuid) != str(doc["uuid"]) and not _marked(d)]
        if own:
            del contents[name], generated[name]
            deferred.append(f"{doc['schema']}.{doc['table_name']}")
            moved[str(doc["uuid"])] = str(own[0].uuid)
    # The generated charts of such a table (the "Data quality" dashboard's) use that dataset.
    for name, text in list(contents.items()):
        chart = yaml.safe_load(text) if name.startswith("charts/") else None
        if chart and str(chart.get("dataset_uuid")) in moved:
            chart["dataset_uuid"] = moved[str(chart["dataset_uuid"])]
            contents[name] = yaml.safe_dump(chart, sort_keys=False, allow_unicode=True)
    return deferred


def _keep_the_synced_columns(contents: dict[str, str], generated: dict[str, dict]) -> None:
    """A generated dataset lists only the columns its spec describes; the import removes the
    others. Those the last provisioning synced from the table are added to what is imported,
    so provisioning again changes nothing (the same columns, ids and types)."""
    from superset.connectors.sqla.models import SqlaTable
    from superset.extensions import db

    for name, doc in generated.items():
        held = db.session.query(SqlaTable).filter_by(uuid=doc["uuid"]).one_or_none()
        if held is None:
            continue
        stored = {c.column_name: c for c in held.columns if not c.expression}
        listed = {c["column_name"] for c in doc["columns"]}
        for column in doc["columns"]:
            if column["column_name"] in stored and not column.get("type"):
                column["type"] = stored[column["column_name"]].type
                column["is_dttm"] = stored[column["column_name"]].is_dttm
        doc["columns"] += [{"column_name": c.column_name, "type": c.type, "is_dttm": c.is_dttm,
                            "description": c.description, "verbose_name": c.verbose_name, "is_active": True,
                            "groupby": True, "filterable": True, "expression": None}
                           for column_name, c in stored.items() if column_name not in listed]
        contents[name] = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _remove_stale_generated_charts(contents: dict[str, str]) -> list[str]:
    """A generated chart the bundle no longer has (its spec's rule is gone) is deleted: the
    dashboard it sat on was imported without it. Returns their names."""
    from superset.extensions import db
    from superset.models.slice import Slice

    wanted = {str(yaml.safe_load(text)["uuid"]) for name, text in contents.items() if name.startswith("charts/")}
    stale = [c for c in db.session.query(Slice).filter_by(certified_by=GENERATED_BY) if str(c.uuid) not in wanted]
    for chart in stale:
        db.session.delete(chart)
    db.session.commit()
    return [c.slice_name for c in stale]


def _used_by_dashboard_filters() -> set[int]:
    from superset.extensions import db
    from superset.models.dashboard import Dashboard

    used = set()
    for dashboard in db.session.query(Dashboard).all():
        for native_filter in json.loads(dashboard.json_metadata or "{}").get("native_filter_configuration", []):
            used |= {t["datasetId"] for t in native_filter.get("targets", []) if "datasetId" in t}
    return used


def _not_found(exc: Exception) -> bool:
    # Spark's answer for a table, or (before the first run) its schema, that does not exist.
    return any(code in str(exc) for code in ("TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND", "NoSuchTable"))


def sync_generated(generated: dict[str, dict], deferred: list[str]) -> str:
    """The generated datasets after their import: each gets its table's columns as the Thrift
    server describes them, a date or timestamp column is a time column, and the default time
    column is a temporal key if there is one. A generated dataset no spec makes any more is
    removed, unless a chart or a dashboard's filter uses it. One table's failure is reported,
    not fatal: Superset starts either way."""
    from superset.connectors.sqla.models import SqlaTable
    from superset.extensions import db
    from superset.sql.parse import Table

    wanted = {str(doc["uuid"]) for doc in generated.values()}
    filtered = _used_by_dashboard_filters()
    synced, waiting, removed, kept, failed = [], [], [], [], []
    for dataset in db.session.query(SqlaTable).all():
        marker = _marked(dataset)
        if not marker:
            continue
        name = f"{dataset.schema}.{dataset.table_name}"
        if str(dataset.uuid) not in wanted:
            if dataset.slices or dataset.id in filtered:
                kept.append(f"{name} (charts or filters use it)")
            else:
                db.session.delete(dataset)
                db.session.commit()
                removed.append(name)
            continue
        try:
            if not dataset.database.has_table(Table(dataset.table_name, dataset.schema, dataset.catalog)):
                waiting.append(name)  # its first run makes it; the next provisioning syncs it
                continue
            chosen = dataset.main_dttm_col  # the spec's time column, if it names one
            dataset.fetch_metadata()
            for column in dataset.columns:
                if not column.expression:
                    column.is_dttm = None  # then is_temporal judges by the type
                    column.is_dttm = bool(column.is_temporal)
            temporal = [c.column_name for c in dataset.columns if c.is_dttm]
            if chosen not in temporal:
                dataset.main_dttm_col = next((k for k in marker.get("keys", []) if k in temporal),
                                             temporal[0] if temporal else None)
            db.session.commit()
            synced.append(name)
        except Exception as exc:  # noqa: BLE001 - said in the summary; the other tables go on
            db.session.rollback()
            (waiting if _not_found(exc) else failed).append(
                name if _not_found(exc) else f"{name} ({str(exc).splitlines()[0][:200]})")
    parts = [f"{len(synced)} generated datasets synced with their tables"]
    parts += [f"waiting for their tables: {', '.join(waiting)}"] if waiting else []
    parts += [f"removed: {', '.join(removed)}"] if removed else []
    parts += [f"kept without a spec: {', '.join(kept)}"] if kept else []
    parts += [f"left as made in Superset: {', '.join(deferred)}"] if deferred else []
    parts += [f"could not sync: {', '.join(failed)}"] if failed else []
    return "; ".join(parts)


def export(target: Path) -> str:
    """Replace the YAML under `target` with Superset's export of everything it holds. The
    database's password is masked by Superset; provisioning sets it from the environment."""
    from superset.commands.export.assets import ExportAssetsCommand
    from superset.extensions import security_manager
    from superset.utils.core import override_user

    with override_user(security_manager.find_user(username=os.environ["SUPERSET_ADMIN_USER"])):
        files = {name: content() for name, content in ExportAssetsCommand().run()}
    files = exportable(files)
    for old in target.rglob("*.yaml"):
        old.unlink()
    for name, text in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    counts = {kind: sum(name.startswith(kind + "/") for name in files) for kind in KINDS}
    return f"exported to {target}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())


def exportable(files: dict[str, str]) -> dict[str, str]:
    """What of Superset's export goes to superset/assets: what the specs make stays out."""
    return _without_generated_datasets(_without_generated_charts(files))


def _without_generated_charts(files: dict[str, str]) -> dict[str, str]:
    """The specs make the generated charts and dashboard: an export leaves them out."""
    return {name: text for name, text in files.items()
            if not (name.startswith(("charts/", "dashboards/"))
                    and (yaml.safe_load(text) or {}).get("certified_by") == GENERATED_BY)}


def _without_generated_datasets(files: dict[str, str]) -> dict[str, str]:
    """The specs make generated datasets, so an export leaves them out, except one an exported
    chart uses: that one is written as a hand-designed dataset (its mark removed), or the
    chart would point at nothing once its spec goes."""
    used = {str(yaml.safe_load(text).get("dataset_uuid")) for name, text in files.items() if name.startswith("charts/")}
    kept = {}
    for name, text in files.items():
        doc = yaml.safe_load(text) if name.startswith("datasets/") else None
        if doc and (doc.get("extra") or {}).get(GENERATED):
            if str(doc["uuid"]) not in used:
                continue
            doc["extra"] = {k: v for k, v in doc["extra"].items() if k != GENERATED} or None
            text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        kept[name] = text
    return kept


def main(argv: list[str]) -> int:
    from superset.app import create_app

    arity = {"provision": 1, "export": 2, "add-user": 3}
    if not argv or arity.get(argv[0]) != len(argv):
        print("usage: manage.py provision | manage.py export DIR | manage.py add-user NAME ROLE", file=sys.stderr)
        return 2
    with create_app().app_context():
        try:
            if argv[0] == "provision":
                print(provision())
            elif argv[0] == "export":
                print(export(Path(argv[1])))
            else:
                print(add_user(argv[1], argv[2], os.environ["SUPERSET_NEW_USER_PASSWORD"]))
        except Exception as exc:  # one line for the user; Superset has logged the details
            messages = getattr(exc, "normalized_messages", lambda: None)()
            print(f"superset {argv[0]} failed: {exc}{f' {messages}' if messages else ''}", file=sys.stderr)
            return 1
    return 0


def _ensure_analyst_role(security_manager) -> None:
    from superset.extensions import db

    security_manager.copy_role("Gamma", ANALYST_ROLE, merge=False)
    role = security_manager.find_role(ANALYST_ROLE)
    every_dataset = security_manager.find_permission_view_menu("all_datasource_access", "all_datasource_access")
    security_manager.add_permission_role(role, every_dataset)
    db.session.commit()


def add_user(username: str, role_name: str, password: str) -> str:
    """A login with one role (Analyst, Gamma, sql_lab, Alpha or Admin); its password is reset
    if the user exists."""
    from superset.extensions import security_manager

    role = security_manager.find_role(role_name)
    if role is None:
        raise ValueError(f"no role {role_name!r} "
                         f"(provision first; roles: {ANALYST_ROLE}, Gamma, sql_lab, Alpha, Admin)")
    user = security_manager.find_user(username=username)
    if user is None:
        user = security_manager.add_user(username, username, "Lakehouse", f"{username}@localhost", role,
                                         password=password)
        if not user:
            raise RuntimeError(f"could not create the Superset user {username!r}")
    else:
        user.roles = [role]
        security_manager.update_user(user)
        security_manager.reset_password(user.id, password)
    return f"user {username} has the role {role_name}"


def _ensure_admin(security_manager, username: str, password: str):
    user = security_manager.find_user(username=username)
    if user is None:
        user = security_manager.add_user(username, "Lakehouse", "Admin", f"{username}@localhost",
                                         security_manager.find_role("Admin"), password=password)
        if not user:
            raise RuntimeError(f"could not create the Superset user {username!r}")
    else:
        security_manager.reset_password(user.id, password)
    return user


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
