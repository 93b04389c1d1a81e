"""docker-compose.yaml, docker-compose-airflow.yaml, their Dockerfiles and .env.example,
checked without a Docker engine.

The compose file is read with PyYAML (anchors and merge keys resolved, as compose does)
but not interpolated: ${VAR:?...} stays text, which is what the secret checks look at.
Everything is compared with the native platform's own definitions (Settings, SERVICES,
secrets.GENERATED), so the two ways of running cannot drift apart silently.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

from lakehouse.config import ENV_PREFIX, PROJECT_ROOT, Settings
from lakehouse.platform import airflow, dqops, metastore, registry, secrets, spark_cluster, superset, thrift_server
from lakehouse.quality import dqops_userhome, dqops_validation

HERE = Path(__file__).parent
COMPOSE_FILES = [PROJECT_ROOT / "docker-compose.yaml", PROJECT_ROOT / "docker-compose-airflow.yaml"]
PROJECT_NAMES = {"docker-compose.yaml": "lakehouse", "docker-compose-airflow.yaml": "lakehouse-airflow"}
IMAGE_ROOT = PurePosixPath("/opt/lakehouse")  # where the images hold the project
SECRETS = set(secrets.GENERATED)
NATIVE = [s.name for s in registry.SERVICES]
# Native services that do not run `lakehouse serve` in compose: their vendors' images.
OWN_IMAGES = {"postgres", "minio", "dqops"}
ONE_SHOT = {"minio-init"}
DQOPS_PORT = 8888  # DQOps's own port (its docker guide: -p 8888:8888), natively too

# Which credentials each service needs, and no more: every service its own S3 account
# (lakehouse.config.S3_IDENTITIES), MinIO's root account only MinIO and the provisioning.
PIPELINE_S3 = {"LAKEHOUSE_S3_ACCESS_KEY", "LAKEHOUSE_S3_SECRET_KEY"}
THRIFT_S3 = {"LAKEHOUSE_THRIFT_S3_ACCESS_KEY", "LAKEHOUSE_THRIFT_S3_SECRET_KEY"}
METASTORE_S3 = {"LAKEHOUSE_METASTORE_S3_ACCESS_KEY", "LAKEHOUSE_METASTORE_S3_SECRET_KEY"}
LANDING_S3 = {"LAKEHOUSE_LANDING_S3_ACCESS_KEY", "LAKEHOUSE_LANDING_S3_SECRET_KEY"}
MINIO_ROOT = {"LAKEHOUSE_MINIO_ROOT_USER", "LAKEHOUSE_MINIO_ROOT_PASSWORD"}
SPARK_AUTH = {"LAKEHOUSE_SPARK_AUTH_SECRET"}
# What every Airflow component shares: its database and the keys all must agree on.
AIRFLOW_SHARED = {"LAKEHOUSE_AIRFLOW_DB_PASSWORD", "LAKEHOUSE_AIRFLOW_FERNET_KEY", "LAKEHOUSE_AIRFLOW_SECRET_KEY",
                  "LAKEHOUSE_AIRFLOW_JWT_SECRET"}
NEEDS = {
    "postgres": {"LAKEHOUSE_POSTGRES_PASSWORD", "LAKEHOUSE_METASTORE_DB_PASSWORD"},
    "minio": MINIO_ROOT,
    "minio-init": MINIO_ROOT | PIPELINE_S3 | THRIFT_S3 | METASTORE_S3 | LANDING_S3,
    "hive-metastore": METASTORE_S3 | {"LAKEHOUSE_METASTORE_DB_PASSWORD"},
    "spark-master": SPARK_AUTH,
    "spark-worker": SPARK_AUTH,  # executors get a job's S3 account from its driver
    # It generates its TLS certificate and the clients' truststore at first start.
    "spark-thrift": THRIFT_S3 | SPARK_AUTH | {"LAKEHOUSE_THRIFT_USER", "LAKEHOUSE_THRIFT_PASSWORD",
                                             "LAKEHOUSE_DQOPS_THRIFT_USER", "LAKEHOUSE_DQOPS_THRIFT_PASSWORD",
                                             "LAKEHOUSE_THRIFT_KEYSTORE_PASSWORD",
                                             "LAKEHOUSE_THRIFT_TRUSTSTORE_PASSWORD"},
    # The API server's first start creates the database (as PostgreSQL's superuser), the
    # admin account and the tasks' Spark properties; the scheduler runs the Spark drivers.
    "airflow-api-server": PIPELINE_S3 | SPARK_AUTH | AIRFLOW_SHARED | {"LAKEHOUSE_POSTGRES_PASSWORD",
                                                                       "LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD"},
    "airflow-scheduler": PIPELINE_S3 | SPARK_AUTH | AIRFLOW_SHARED,
    "airflow-dag-processor": AIRFLOW_SHARED,
    "airflow-triggerer": AIRFLOW_SHARED,
    # DQOps reads silver and gold through the Thrift server, with its own login, over TLS.
    "dqops": {"LAKEHOUSE_DQOPS_THRIFT_USER", "LAKEHOUSE_DQOPS_THRIFT_PASSWORD", "LAKEHOUSE_THRIFT_TRUSTSTORE_PASSWORD"},
    # Superset's first start creates its database; it reaches the gold tables through the
    # Thrift server, with the Thrift server's credentials.
    "superset": {"LAKEHOUSE_POSTGRES_PASSWORD", "LAKEHOUSE_THRIFT_USER", "LAKEHOUSE_THRIFT_PASSWORD",
                 "LAKEHOUSE_SUPERSET_DB_PASSWORD", "LAKEHOUSE_SUPERSET_SECRET_KEY",
                 "LAKEHOUSE_SUPERSET_ADMIN_PASSWORD"},
}
# Credentials the official images read under their own names.
FOREIGN_CREDENTIALS = {
    "POSTGRES_PASSWORD": "LAKEHOUSE_POSTGRES_PASSWORD",
    "MINIO_ROOT_USER": "LAKEHOUSE_MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD": "LAKEHOUSE_MINIO_ROOT_PASSWORD",
}
CREDENTIAL_KEY = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|ROOT_USER|THRIFT_USER")
COMPOSE_ONLY_VARIABLES = {"LAKEHOUSE_IMAGE_TAG"}  # image tag, not a setting nor a secret

INTERPOLATION = re.compile(r"(?<!\$)\$(?:\{(?P<braced>[A-Za-z_]\w*)(?P<rest>[^}]*)\}|(?P<bare>[A-Za-z_]\w*))")


def required(name: str) -> re.Pattern:
    """`${NAME:?message}`, the whole value: compose refuses to run when NAME is unset or empty."""
    return re.compile(rf"\$\{{{re.escape(name)}:\?[^}}]+\}}")


# --- loading ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def composes() -> dict[str, dict]:
    return {path.name: yaml.safe_load(path.read_text()) for path in COMPOSE_FILES}


@pytest.fixture(scope="module")
def svcs(composes) -> dict[str, dict]:
    """The services of both files (their names are unique across the two)."""
    merged = {}
    for doc in composes.values():
        assert not set(merged) & set(doc["services"]), "a service is defined in both files"
        merged.update(doc["services"])
    return merged


def compose_text() -> str:
    return "\n".join(path.read_text() for path in COMPOSE_FILES)


def environment(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def argv(svc: dict) -> list[str]:
    parts = []
    for key in ("entrypoint", "command"):
        value = svc.get(key) or []
        parts += shlex.split(value) if isinstance(value, str) else list(value)
    return parts


def served(svc: dict) -> str | None:
    args = argv(svc)
    return args[2] if args[:2] == ["lakehouse", "serve"] and len(args) == 3 else None


def mounts(svc: dict) -> list[dict]:
    """Volumes in long form: type, source, target, read_only."""
    result = []
    for vol in svc.get("volumes") or []:
        if isinstance(vol, dict):
            result.append({"read_only": False, **vol})
            continue
        parts = vol.split(":")
        if len(parts) == 1:
            result.append({"type": "volume", "source": None, "target": parts[0], "read_only": False})
            continue
        source, target, mode = parts[0], parts[1], (parts[2] if len(parts) > 2 else "")
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        result.append({"type": kind, "source": source, "target": target, "read_only": "ro" in mode.split(",")})
    return result


def ports(svc: dict) -> list[tuple[str | None, int | None, int]]:
    """(host_ip, published, target) of every published port."""
    result = []
    for port in svc.get("ports") or []:
        if isinstance(port, dict):
            published = port.get("published")
            result.append((port.get("host_ip"), int(published) if published else None, int(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        host_ip = parts[0] if len(parts) == 3 else None
        published = int(parts[-2]) if len(parts) >= 2 else None
        result.append((host_ip, published, int(parts[-1])))
    return result


def depends_on(svc: dict) -> dict[str, dict]:
    deps = svc.get("depends_on") or {}
    return {name: {} for name in deps} if isinstance(deps, list) else deps


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration}"
    return sum(float(n) * units[u] for n, u in parts)


def builds(svcs: dict) -> dict[str, tuple[Path, Path, dict]]:
    """service -> (context dir, Dockerfile, additional_contexts) for services that build."""
    result = {}
    for name, svc in svcs.items():
        build = svc.get("build")
        if build is None:
            continue
        build = {"context": build} if isinstance(build, str) else build
        context = (PROJECT_ROOT / build.get("context", ".")).resolve()
        dockerfile = (context / build.get("dockerfile", "Dockerfile")).resolve()
        result[name] = (context, dockerfile, build.get("additional_contexts") or {})
    return result


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n(\s*#.*\n)*", " ", dockerfile.read_text())
    lines = (line.strip() for line in text.splitlines())
    return [(line.split(None, 1)[0].upper(), (line.split(None, 1) + [""])[1])
            for line in lines if line and not line.startswith("#")]


# --- the Compose Specification ---------------------------------------------------------------

@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file_matches_the_compose_specification(path):
    schema = json.loads((HERE / "compose-spec.json").read_text())
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    doc = yaml.safe_load(path.read_text())
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in validator_cls(schema).iter_errors(doc)]
    assert not errors, "\n".join(errors)
    assert doc["name"] == PROJECT_NAMES[path.name]


# --- services --------------------------------------------------------------------------------

def test_services_are_the_native_ones_plus_bucket_init(svcs, composes):
    assert set(svcs) == set(NATIVE) | ONE_SHOT
    assert set(composes["docker-compose-airflow.yaml"]["services"]) == {s.name for s in airflow.SERVICES}


def test_airflow_joins_the_platforms_network(composes):
    platform = composes["docker-compose.yaml"]["networks"]["default"]
    joined = composes["docker-compose-airflow.yaml"]["networks"]["default"]
    assert joined == {"name": platform["name"], "external": True}


def test_lakehouse_services_run_lakehouse_serve_of_a_native_service(svcs):
    serving = {name: served(svc) for name, svc in svcs.items() if served(svc)}
    assert set(serving.values()) <= set(NATIVE), "serves a service unknown to registry.SERVICES"
    # Each native service but the two with their own images, served by the compose service
    # of the same name (so `lakehouse status` names and compose names agree).
    assert serving == {name: name for name in NATIVE if name not in OWN_IMAGES}
    assert argv(svcs["minio-init"]) == ["lakehouse", "init-buckets"]
    for name in OWN_IMAGES:
        assert not any(a == "lakehouse" for a in argv(svcs[name]))


def test_lakehouse_commands_run_on_the_lakehouse_image(svcs):
    built = builds(svcs)
    spark_image = [svcs[n]["image"] for n, (_, df, _) in built.items() if df == PROJECT_ROOT / "spark" / "Dockerfile"]
    assert len(spark_image) == 1, "exactly one service builds spark/Dockerfile"
    # Images built FROM the lakehouse image (hive, airflow) run the same `lakehouse`.
    extending = {svcs[n]["image"] for n, (_, df, extra) in built.items()
                 if any(op == "FROM" and args.split()[0] in extra for op, args in instructions(df))}
    for name, svc in svcs.items():
        if argv(svc)[:1] == ["lakehouse"] and name not in built:
            assert svc["image"] in {spark_image[0], *extending}, name


# --- secrets ---------------------------------------------------------------------------------

def test_each_service_gets_exactly_the_secrets_it_needs_and_all_required(svcs):
    for name, svc in svcs.items():
        env = environment(svc)
        given = set()
        for key, value in env.items():
            if key in SECRETS or key in FOREIGN_CREDENTIALS:
                secret = key if key in SECRETS else FOREIGN_CREDENTIALS[key]
                assert required(secret).fullmatch(value), f"{name}: {key} must be ${{{secret}:?...}}, is {value!r}"
                given.add(secret)
        assert given == NEEDS[name], f"{name}: secrets {sorted(given)} != needed {sorted(NEEDS[name])}"
    assert set().union(*NEEDS.values()) == SECRETS, "a generated secret is used by no service"


def test_no_secret_has_a_default_or_a_literal_value(svcs):
    text = compose_text()
    for match in INTERPOLATION.finditer(text):
        name = match["braced"] or match["bare"]
        if name in SECRETS:
            assert match["braced"] and match["rest"].startswith(":?") and len(match["rest"]) > 2, \
                f"{match[0]}: a secret is required (${{{name}:?message}}), never defaulted"
    for name, svc in svcs.items():
        for key, value in environment(svc).items():
            if CREDENTIAL_KEY.search(key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), f"{name}: {key} has a literal value"


def test_env_example_documents_exactly_the_generated_secrets():
    lines = (PROJECT_ROOT / ".env.example").read_text().splitlines()
    pairs = {}
    for i, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            assert value == "", f".env.example must not carry a value: {key}"
            assert i > 0 and lines[i - 1].startswith("#"), f".env.example: explain {key} in a comment above it"
            pairs[key.strip()] = value
    assert set(pairs) == SECRETS
    assert ".env" in (PROJECT_ROOT / ".gitignore").read_text().splitlines(), ".env must stay git-ignored"


# --- settings --------------------------------------------------------------------------------

def test_lakehouse_variables_are_settings_or_secrets(svcs):
    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    for name, svc in svcs.items():
        for key in environment(svc):
            if key.startswith(ENV_PREFIX):
                assert key in fields | SECRETS, f"{name}: {key} is no setting of lakehouse.config"
    for match in INTERPOLATION.finditer(compose_text()):
        var = match["braced"] or match["bare"]
        if var.startswith(ENV_PREFIX):
            assert var in fields | SECRETS | COMPOSE_ONLY_VARIABLES, f"${{{var}}} is unknown"


def test_lakehouse_containers_settings_load_and_point_at_compose_services(svcs, monkeypatch):
    for name, svc in svcs.items():
        if argv(svc)[:1] != ["lakehouse"]:
            continue
        for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
            monkeypatch.delenv(key)
        for key, value in environment(svc).items():
            monkeypatch.setenv(key, INTERPOLATION.sub("x" * 12, value))
        s = Settings(_env_file=None)
        assert s.profile == "cluster" and s.bind_host == spark_cluster.ALL_INTERFACES, name
        assert str(s.home) == environment(svc)["LAKEHOUSE_HOME"], name
        assert urlparse(s.s3_endpoint).hostname == "minio"
        assert urlparse(s.metastore_uri).hostname == "hive-metastore"
        assert spark_cluster.master_host_port(s)[0] == "spark-master"
        assert s.postgres_host == "postgres"
        assert {urlparse(s.s3_endpoint).hostname, urlparse(s.metastore_uri).hostname,
                spark_cluster.master_host_port(s)[0], s.postgres_host} <= set(svcs)
        if name == "spark-thrift":
            assert s.thrift_host == "127.0.0.1"  # its own probe, from inside the container
            # Its configuration builds from its own credentials alone (the jobs' are not there).
            assert "LAKEHOUSE_S3_ACCESS_KEY" not in environment(svc)
            assert thrift_server.thrift_properties(s)["spark.hadoop.fs.s3a.access.key"] == s.s3_keys("thrift")[0]
        if name == "airflow-scheduler":
            from lakehouse.spark import spark_conf

            assert spark_conf(s)["spark.hadoop.fs.s3a.access.key"] == s.s3_keys("pipeline")[0]  # the tasks' drivers
        if name.startswith("airflow-"):
            # The native configuration builder accepts it, and every component finds the API server.
            env = airflow.airflow_env(s)
            assert urlparse(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).hostname == "airflow-api-server"
            assert airflow.api_url(s) == f"http://airflow-api-server:{s.airflow_port}"
            assert env["AIRFLOW_CONN_SPARK_DEFAULT"].startswith("spark://spark-master:7077")
        if name == "superset":
            # Analysts' queries go to the Thrift server's container; its own probe is local.
            assert urlparse(superset.thrift_uri(s)).hostname == "spark-thrift" == s.thrift_host
            assert superset.url(s) == f"http://127.0.0.1:{s.superset_port}"
            env = superset.superset_env(s)
            assert urlparse(env["SUPERSET_METADATA_DB_URI"]).hostname == "postgres"


# --- ports -----------------------------------------------------------------------------------

def test_only_user_facing_ports_are_published_on_loopback_at_native_ports(svcs):
    default = {name: field.default for name, field in Settings.model_fields.items()}
    expected = {
        "minio": {urlparse(default["s3_endpoint"]).port, default["minio_console_port"]},
        "spark-master": {default["spark_master_ui_port"]},
        "spark-thrift": {default["thrift_port"]},
        "airflow-api-server": {default["airflow_port"]},
        "superset": {default["superset_port"]},
        "dqops": {default["dqops_port"]},
    }
    assert expected == {"minio": {9000, 9001}, "spark-master": {8080}, "spark-thrift": {10000},
                        "airflow-api-server": {8090}, "superset": {8088}, "dqops": {8888}}
    published = {name: ports(svc) for name, svc in svcs.items() if svc.get("ports")}
    assert set(published) == set(expected)
    for name, entries in published.items():
        for host_ip, port, target in entries:
            assert host_ip == "127.0.0.1", f"{name}: {target} published beyond loopback"
            assert port == target, f"{name}: published {port} != container {target}"
        assert {target for _, _, target in entries} == expected[name], name
    for svc in svcs.values():
        assert svc.get("network_mode") is None, "host networking would publish everything"
    assert spark_cluster.master_host_port(Settings(_env_file=None, profile="cluster", s3_access_key="x",
                                                   s3_secret_key="x"))[1] == 7077
    assert all(7077 not in {t for _, _, t in e} for e in published.values())


# --- health, dependencies, scaling -----------------------------------------------------------

def test_long_running_services_have_healthchecks_long_enough(svcs):
    for name, svc in svcs.items():
        if name in ONE_SHOT:
            assert svc.get("restart") == "no" and "healthcheck" not in svc
            continue
        check = svc.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert svc.get("restart") in {"unless-stopped", "always"}, name
        if served(svc):
            assert check["test"] == ["CMD", "lakehouse", "probe", name]
            # As long as `lakehouse up` waits for it, at least.
            budget = seconds(check["start_period"]) + seconds(check["interval"]) * check["retries"]
            assert budget >= registry.service(name).start_timeout, f"{name}: healthcheck gives up too early"


def test_dependencies_wait_for_health_in_native_order(svcs):
    order = {name: i for i, name in enumerate(NATIVE)}
    for name, svc in svcs.items():
        for dep, spec in depends_on(svc).items():
            condition = spec.get("condition")
            assert condition in {"service_healthy", "service_completed_successfully"}, f"{name} -> {dep}"
            if condition == "service_healthy":
                assert "healthcheck" in svcs[dep], f"{name} waits for {dep}'s health, it has no check"
            else:
                assert dep in ONE_SHOT
            if name in order and dep in order:
                assert order[dep] < order[name], f"{name} -> {dep} contradicts registry.SERVICES order"
    assert set(depends_on(svcs["spark-thrift"])) == {"hive-metastore", "spark-worker"}
    assert set(depends_on(svcs["hive-metastore"])) == {"postgres", "minio-init"}


def test_spark_worker_scales(svcs):
    worker = svcs["spark-worker"]
    assert "container_name" not in worker and "hostname" not in worker
    assert not worker.get("ports")
    # Named volumes would be shared by every replica: the runtime dir must be per replica.
    assert all(m["type"] != "volume" or m["source"] is None for m in mounts(worker))


# --- mounts ----------------------------------------------------------------------------------

def test_mounts_are_the_native_configuration_dirs(composes, svcs):
    declared = {v for doc in composes.values() for v in doc.get("volumes") or {}}
    for name, svc in svcs.items():
        for m in mounts(svc):
            if m["type"] == "bind":
                source = (PROJECT_ROOT / m["source"]).resolve()
                assert source.exists() and source.is_relative_to(PROJECT_ROOT), f"{name}: {m['source']}"
                assert m["read_only"], f"{name}: {m['source']} must be mounted read-only"
                in_image = source.is_dir() and str(IMAGE_ROOT / source.relative_to(PROJECT_ROOT))
                if in_image and argv(svc)[:1] == ["lakehouse"]:
                    assert m["target"] == in_image, f"{name}: {m['source']} -> {m['target']}"
            elif m["source"] is not None:
                assert m["source"] in declared, f"{name}: volume {m['source']} is not declared"
    conf = {name: {(PROJECT_ROOT / m["source"]).resolve() for m in mounts(svc) if m["type"] == "bind"}
            for name, svc in svcs.items()}
    assert metastore.HIVE_CONF_DIR in conf["hive-metastore"]
    for name in ("spark-master", "spark-worker", "spark-thrift"):
        assert spark_cluster.SPARK_CONF_DIR in conf[name], name
    assert superset.SUPERSET_DIR in conf["superset"]  # its config, manage.py and the assets
    init = [m for m in mounts(svcs["postgres"]) if m["target"].startswith("/docker-entrypoint-initdb.d/")]
    assert [(PROJECT_ROOT / m["source"]).resolve() for m in init] == [PROJECT_ROOT / "hive" / "init-metastore-db.sh"]


def test_runtime_dir_is_where_the_image_prepares_it(svcs):
    env = " ".join(args for op, args in instructions(PROJECT_ROOT / "spark" / "Dockerfile") if op == "ENV")
    image_home = re.search(r"LAKEHOUSE_HOME=(\S+)", env)
    assert image_home, "spark/Dockerfile must set LAKEHOUSE_HOME (the dir it creates for the user)"
    for name, svc in svcs.items():
        home = environment(svc).get("LAKEHOUSE_HOME")
        if argv(svc)[:1] == ["lakehouse"]:
            assert home == image_home[1], name
        for m in mounts(svc):
            if m["type"] == "volume" and name not in OWN_IMAGES:
                target = PurePosixPath(m["target"])
                assert target == PurePosixPath(home) or target.is_relative_to(PurePosixPath(home) / "platform"), \
                    f"{name}: volume on {m['target']}, not in LAKEHOUSE_HOME"


# --- Dockerfiles -----------------------------------------------------------------------------

TWO_PART_VERSIONS = {"postgres", "debian"}  # 15.18, 12.12: exact releases of these projects


def assert_pinned(ref: str, where: str) -> None:
    if "@sha256:" in ref:
        return
    name, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "")
    assert tag and tag != "latest", f"{where}: {ref} is not pinned to a tag"
    version = re.match(r"(\d+(?:\.\d+)*)", tag)
    parts = 2 if name.split("/")[-1] in TWO_PART_VERSIONS else 3
    assert version and len(version[1].split(".")) >= parts, f"{where}: {ref} is not an exact version"


def test_every_base_image_is_pinned(svcs):
    built = builds(svcs)
    assert {df.relative_to(PROJECT_ROOT).as_posix() for _, df, _ in built.values()} == {
        "spark/Dockerfile", "hive/Dockerfile", "minio/Dockerfile", "airflow/Dockerfile", "superset/Dockerfile"}
    spark_image = next(svcs[n]["image"] for n, (_, df, _) in built.items() if df.parent.name == "spark")
    for name, (context, dockerfile, extra) in built.items():
        assert context.is_dir() and dockerfile.is_file(), name
        stages = set()
        for op, args in instructions(dockerfile):
            if op != "FROM":
                continue
            words = [w for w in args.split() if not w.startswith("--")]
            ref = words[0]
            if ref in stages:
                pass
            elif ref in extra:
                # Another service's built image: by service (same file) or by name (the platform's).
                assert (extra[ref].startswith("service:") and extra[ref][8:] in built) or \
                    extra[ref] == f"docker-image://{spark_image}", f"{dockerfile}: FROM {ref} must be our own image"
            else:
                assert_pinned(ref, str(dockerfile.relative_to(PROJECT_ROOT)))
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
        users = [args for op, args in instructions(dockerfile) if op == "USER"]
        assert users and users[-1] not in {"root", "0"}, f"{dockerfile}: runs as root"
    for name, svc in svcs.items():
        if name not in built and not any(svcs[b].get("image") == svc["image"] for b in built):
            assert_pinned(svc["image"], f"services.{name}.image")


def test_minio_image_builds_the_native_minio_version(svcs):
    build_sh = (PROJECT_ROOT / "minio" / "build.sh").read_text()
    pinned = re.search(r"^MINIO_VERSION=(\S+)$", build_sh, re.M)[1]
    context, dockerfile, _ = builds(svcs)["minio"]
    text = "\n".join(args for _, args in instructions(dockerfile))  # comments aside
    declared = re.findall(r"MINIO_VERSION[= ](\S+)", text) + re.findall(r"github\.com/minio/minio@(\S+)", text)
    assert all(v == pinned for v in declared), f"minio/Dockerfile builds {declared}, build.sh {pinned}"
    runs_build_sh = any(op == "RUN" and re.search(r"\bbuild\.sh\b", args) for op, args in instructions(dockerfile))
    assert declared or runs_build_sh, "minio/Dockerfile must build MINIO_VERSION"
    if runs_build_sh:
        assert context == PROJECT_ROOT / "minio", "the build.sh it runs must be minio/build.sh"


def test_lakehouse_image_installs_the_locked_project_where_project_root_expects_it():
    steps = instructions(PROJECT_ROOT / "spark" / "Dockerfile")
    pip, workdir = [], None
    for op, args in steps:
        workdir = PurePosixPath(args) if op == "WORKDIR" else workdir
        if op == "RUN" and "pip install" in args:
            pip.append((workdir, args))
    assert pip and all(re.search(r"-c constraints\.txt\b", args) for _, args in pip), "pip install without constraints"
    # Editable, from /opt/lakehouse: lakehouse/config.py derives PROJECT_ROOT from its own
    # path, which must stay /opt/lakehouse/lakehouse/config.py (build/, spark/conf,
    # hive/conf resolve from it); a regular install would move it into site-packages.
    assert [wd for wd, args in pip if re.search(r"pip install .*-e \.(\s|$)", args)] == [IMAGE_ROOT]
    runs = " ".join(args for op, args in steps if op == "RUN")
    jars = Settings.model_fields["jars_dir"].default.relative_to(PROJECT_ROOT).as_posix()
    cluster = Settings.model_fields["cluster_jars_dir"].default.relative_to(PROJECT_ROOT).as_posix()
    assert f"spark/fetch-jars.sh {jars}" in runs and f"spark/fetch-jars.sh --cluster {cluster}" in runs
    hive = " ".join(args for op, args in instructions(PROJECT_ROOT / "hive" / "Dockerfile") if op == "RUN")
    assert f"fetch.sh {IMAGE_ROOT / metastore.HIVE_DIR.relative_to(PROJECT_ROOT)}" in hive


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    ignored = {line.strip().rstrip("/") for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", "build", ".lakehouse", ".git"} <= ignored


# --- DQOps -----------------------------------------------------------------------------------

def test_dqops_reads_the_generated_user_home_and_writes_only_its_volume(svcs, composes):
    dqops = svcs["dqops"]
    assert_pinned(dqops["image"], "services.dqops.image")
    assert dqops["image"] == "dqops/dqo:1.13.1"  # the server of the pinned `dqops` client
    userhome = PurePosixPath("/dqo/userhome")  # where DQOps's image expects it (DQO_USER_HOME)
    binds = {PurePosixPath(m["target"]): (PROJECT_ROOT / m["source"]).resolve()
             for m in mounts(dqops) if m["type"] == "bind"}
    # The checks, DQOps's default policies (disabled) and what makes the folder an initialised
    # user home: exactly what the generator owns, read-only (a UI edit must go through the specs).
    assert binds == {userhome / "sources": dqops_userhome.USERHOME_DIR / "sources",
                     userhome / dqops_userhome.POLICIES_DIR: dqops_userhome.USERHOME_DIR / dqops_userhome.POLICIES_DIR,
                     userhome / dqops_userhome.MARKER_FILE: dqops_userhome.USERHOME_DIR / dqops_userhome.MARKER_FILE,
                     userhome / ".gitignore": dqops_userhome.USERHOME_DIR / ".gitignore"}
    assert all(m["read_only"] for m in mounts(dqops) if m["type"] == "bind")
    volumes = [m for m in mounts(dqops) if m["type"] == "volume" and not m["read_only"]]
    assert [(m["source"], PurePosixPath(m["target"])) for m in volumes] == [("dqops-userhome", userhome)]
    assert "dqops-userhome" in composes["docker-compose.yaml"]["volumes"]
    assert set(depends_on(dqops)) == {"spark-thrift"}
    assert environment(dqops)["DQO_CLOUD_START_WITHOUT_API_KEY"] == "true"  # no prompt without a TTY


def test_dqops_runs_offline_in_compose_as_natively(svcs, tmp_path):
    """DQOps's own settings of `lakehouse up` (no DQOps Cloud sign-in, prompt or sync; its
    address for links, heap and collector) hold in its container too."""
    s = Settings(_env_file=None, profile="cluster", home=tmp_path, dqops_thrift_user="d",
                 dqops_thrift_password="p" * 12, thrift_truststore_password="t" * 12)
    native = {k: v for k, v in dqops.dqops_env(s).items()
              if k.startswith(("DQO_CLOUD_", "DQO_SCHEDULER_", "DQO_INSTANCE_", "DQO_JAVA_OPTS"))}
    assert len(native) == 5 and set(native.items()) <= set(environment(svcs["dqops"]).items())
    assert s.dqops_port == DQOPS_PORT


def test_dqops_connection_resolves_to_the_thrift_service(svcs, monkeypatch):
    """connection.dqoconnection.yaml's ${LAKEHOUSE_THRIFT_*}, expanded from the dqops
    container's environment, name the Thrift server's service and port; the same variables
    give lakehouse.config the same host and port."""
    env = {k: INTERPOLATION.sub("x" * 12, v) for k, v in environment(svcs["dqops"]).items()}
    spark = yaml.safe_load((dqops_userhome.USERHOME_DIR / dqops_userhome.CONNECTION_FILE).read_text())["spec"]["spark"]
    host, port, _, variables = dqops_validation.parse_jdbc_url(dqops_validation.jdbc_url(spark, env))
    thrift_port = ports(svcs["spark-thrift"])[0][2]
    assert host == "spark-thrift" and host in svcs
    assert port == thrift_port
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings(_env_file=None)
    assert (s.thrift_host, s.thrift_port) == (host, port)
    assert s.dqops_thrift_password.get_secret_value() == dqops_validation.resolve_env(spark["password"], env)
    # TLS, with the truststore the Thrift server's certificate volume holds
    assert variables["ssl"] == "true"
    assert PurePosixPath(variables["sslTrustStore"]).parent == PurePosixPath(s.tls_dir)
    assert PurePosixPath(s.tls_dir) in {PurePosixPath(m["target"]) for m in mounts(svcs["dqops"])}


def test_thrift_tls_files_are_shared_read_only_with_its_clients(svcs):
    """The Thrift server writes its certificate into the thrift-tls volume; Superset and DQOps
    read the CA there, at the directory their LAKEHOUSE_TLS_DIR names, and cannot change it.
    The certificate names the host they connect to."""
    server = environment(svcs["spark-thrift"])
    tls_mounts = {name: [m for m in mounts(svc) if m["source"] == "thrift-tls"] for name, svc in svcs.items()}
    assert {name for name, found in tls_mounts.items() if found} == {"spark-thrift", "superset", "dqops"}
    for name, found in tls_mounts.items():
        if found:
            (mount,) = found
            assert mount["target"] == environment(svcs[name])["LAKEHOUSE_TLS_DIR"], name
            assert mount["read_only"] == (name != "spark-thrift"), name
            if name != "spark-thrift":
                assert (environment(svcs[name])["LAKEHOUSE_THRIFT_HOST"]
                        in server["LAKEHOUSE_THRIFT_TLS_NAMES"].split(","))


def test_airflow_reaches_dqops_on_the_network(composes, svcs):
    """Every Airflow component gets the DQOps server's URL (the scheduler's task uses it):
    the dqops service, at the port it listens on."""
    for name in composes["docker-compose-airflow.yaml"]["services"]:
        url = urlparse(environment(svcs[name])["LAKEHOUSE_DQOPS_URL"])
        assert (url.scheme, url.hostname, url.port) == ("http", "dqops", DQOPS_PORT), name
    assert {target for _, _, target in ports(svcs["dqops"])} == {DQOPS_PORT}
    for name, svc in svcs.items():
        if name not in composes["docker-compose-airflow.yaml"]["services"]:
            assert "LAKEHOUSE_DQOPS_URL" not in environment(svc), name
