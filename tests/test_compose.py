"""Offline checks of the production stack: docker-compose.yaml, Dockerfile, docker/.

No container engine runs here, so the stack is verified three ways:

1. ``docker-compose config -q`` (Debian's docker-compose 1.29) and ``docker compose config -q``
   (the v2 plugin) when either binary is present; skipped otherwise.
2. The Compose Specification JSON schema, applied with ``jsonschema``. The schema is the copy
   of compose-spec/compose-spec ``schema/compose-spec.json`` that check-jsonschema (a locked
   dev dependency) ships as ``check_jsonschema/builtin_schemas/vendor/compose-spec.json``
   (Apache-2.0, licence file next to it), so its version moves with uv.lock.
3. Assertions on our own structure: services, health checks, start-up order, Airflow 3
   settings, tsunagu settings, and the image/lock version agreement.

Under CI=true the file fails if neither a compose binary nor the schema check can run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from importlib import metadata, resources
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / "docker" / ".env.example"
PG_INIT_DIR = REPO / "docker" / "postgres-init"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
}
REQUIRED_SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "airflow-init"}
# One-shot or on-demand services: the official file gives them no health check either.
NO_HEALTHCHECK = {"airflow-init", "airflow-cli"}
# What each long-running service's health check must probe (as in the official Airflow 3 file).
HEALTHCHECK_PROBES = {
    "postgres": ["pg_isready"],
    "redis": ["redis-cli", "ping"],
    "airflow-apiserver": ["curl", "http://localhost:8080/api/v2/"],
    "airflow-scheduler": ["curl", "http://localhost:8974/health"],
    "airflow-dag-processor": ["airflow jobs check", "--job-type DagProcessorJob"],
    "airflow-worker": ["celery", "inspect ping"],
    "airflow-triggerer": ["airflow jobs check", "--job-type TriggererJob"],
}


# --------------------------------------------------------------------------- helpers

_VAR = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.S)


class MissingVariable(Exception):
    pass


def interpolate(value, env: dict[str, str]):
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR:+alt}, $$."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m["escaped"]:
            return "$"
        if m["named"]:
            return env.get(m["named"], "")
        b = _BRACED.match(m["braced"])
        assert b, f"unparseable ${{{m['braced']}}}"
        name, op, arg = b["name"], b["op"], b["arg"]
        val = env.get(name)
        unset_or_empty = val is None or (op is not None and op.startswith(":") and val == "")
        if op in ("-", ":-"):
            return arg if unset_or_empty else val
        if op in ("?", ":?"):
            if unset_or_empty:
                raise MissingVariable(f"{name}: {arg}")
            return val
        if op in ("+", ":+"):
            return "" if unset_or_empty else arg
        return val or ""

    return _VAR.sub(sub, value)


def referenced_variables(text: str) -> dict[str, str | None]:
    """Every ${VAR...} used in the compose file -> its operator (None, ':-', ':?', ...)."""
    out: dict[str, str | None] = {}
    for m in _VAR.finditer(text):
        if m["braced"] is not None:
            b = _BRACED.match(m["braced"])
            out.setdefault(b["name"], b["op"])
        elif m["named"]:
            out.setdefault(m["named"], None)
    return out


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        env[key.strip()] = value
    return env


def healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def clean_env() -> dict[str, str]:
    """A subprocess env without variables that would override .env values."""
    return {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL") if k in os.environ}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def raw_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def raw(raw_text) -> dict:
    data = yaml.safe_load(raw_text)  # resolves the &anchors / <<: merges like compose does
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(raw, example_env) -> dict:
    """The compose model interpolated with docker/.env.example, as `--env-file` would."""
    return interpolate(raw, example_env)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def lock_airflow_version() -> str:
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    versions = {p["version"] for p in lock["package"] if p["name"] == "apache-airflow"}
    assert len(versions) == 1, f"uv.lock pins apache-airflow {versions}"
    return versions.pop()


@pytest.fixture(scope="module")
def compose_spec_schema() -> dict | None:
    try:
        import jsonschema  # noqa: F401

        ref = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
        return json.loads(ref.read_text(encoding="utf-8"))
    except (ImportError, FileNotFoundError, ModuleNotFoundError):
        return None


def _compose_commands() -> list[tuple[str, list[str]]]:
    cmds = []
    if shutil.which("docker-compose"):
        cmds.append(("docker-compose", ["docker-compose"]))
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, env=clean_env(), timeout=60
        )
        if probe.returncode == 0:
            cmds.append(("docker compose", ["docker", "compose"]))
    return cmds


# --------------------------------------------------------------------------- 1. compose binaries


@pytest.mark.parametrize("label", ["docker-compose", "docker compose"])
def test_compose_config_accepts_the_file(label, compose_spec_schema, tmp_path):
    found = dict(_compose_commands())
    if label not in found:
        if IN_CI and not found and compose_spec_schema is None:
            pytest.fail("CI=true: no compose binary and no compose-spec schema; nothing validates the file")
        pytest.skip(f"`{label}` is not installed (apt-get install docker-compose for v1)")
    base = [*found[label], "--project-directory", str(REPO), "-f", str(COMPOSE_FILE)]
    ok = subprocess.run(
        [*base, "--env-file", str(ENV_EXAMPLE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=clean_env(),
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    # Without an .env the required secrets are missing, and config must say so.
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("", encoding="utf-8")
    missing = subprocess.run(
        [*base, "--env-file", str(empty_env), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=clean_env(),
        timeout=120,
    )
    assert missing.returncode != 0
    assert "FERNET_KEY" in missing.stderr + missing.stdout


# --------------------------------------------------------------------------- 2. compose-spec schema


def _validator(schema):
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_compose_spec_schema_accepts_the_file(raw, compose, compose_spec_schema):
    if compose_spec_schema is None:
        if IN_CI and not _compose_commands():
            pytest.fail("CI=true: jsonschema/check-jsonschema missing and no compose binary")
        pytest.skip("jsonschema or check-jsonschema's compose-spec schema not installed")
    validator = _validator(compose_spec_schema)
    for label, model in (("as written", raw), ("interpolated with docker/.env.example", compose)):
        errors = sorted(validator.iter_errors(model), key=lambda e: list(e.absolute_path))
        assert not errors, f"{label}:\n" + "\n".join(
            f"  {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:20]
        )


def test_compose_spec_schema_is_strict_enough(raw, compose_spec_schema):
    """The schema really bites: a typo'd key and a bad depends_on condition are rejected."""
    if compose_spec_schema is None:
        pytest.skip("jsonschema or check-jsonschema's compose-spec schema not installed")
    validator = _validator(compose_spec_schema)
    broken = json.loads(json.dumps(raw))
    broken["services"]["redis"]["healthchek"] = broken["services"]["redis"].pop("healthcheck")
    assert list(validator.iter_errors(broken))
    broken = json.loads(json.dumps(raw))
    broken["services"]["airflow-scheduler"]["depends_on"]["airflow-init"]["condition"] = "finished"
    assert list(validator.iter_errors(broken))


# --------------------------------------------------------------------------- 3. our structure


def test_required_services_exist(services):
    assert REQUIRED_SERVICES <= set(services), REQUIRED_SERVICES - set(services)


def test_every_long_running_service_has_the_official_healthcheck(services):
    for name, svc in services.items():
        if name in NO_HEALTHCHECK:
            continue
        assert "healthcheck" in svc, f"{name} has no healthcheck"
        hc = svc["healthcheck"]
        assert hc["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "retries"):
            assert key in hc, f"{name}: healthcheck without {key}"
        text = healthcheck_text(svc)
        for probe in HEALTHCHECK_PROBES.get(name, []):
            assert probe in text, f"{name}: healthcheck {text!r} lacks {probe!r}"
        assert svc.get("restart") == "always", f"{name} should restart always"
    assert set(HEALTHCHECK_PROBES) <= set(services)


def test_startup_order(services):
    for name in AIRFLOW_SERVICES:
        deps = depends_on(services[name])
        assert deps.get("postgres") == "service_healthy", name
        assert deps.get("redis") == "service_healthy", name
        assert deps.get("airflow-init") == "service_completed_successfully", name
    assert depends_on(services["airflow-worker"]).get("airflow-apiserver") == "service_healthy"
    init_deps = depends_on(services["airflow-init"])
    assert init_deps == {"postgres": "service_healthy", "redis": "service_healthy"}


def test_airflow_common_anchor_is_shared(raw):
    common = raw["x-airflow-common"]
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        svc = raw["services"][name]
        assert svc["image"] == common["image"], name
        for key, value in common["environment"].items():
            assert svc["environment"][key] == value, f"{name}: {key} differs from x-airflow-common"


def test_airflow3_settings(services):
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert re.fullmatch(
        r"postgresql\+psycopg2?://[^@]+@postgres(:5432)?/airflow", env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )
    assert re.fullmatch(r"db\+postgresql://[^@]+@postgres(:5432)?/airflow", env["AIRFLOW__CELERY__RESULT_BACKEND"])
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:@redis:6379/0"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert str(env["AIRFLOW__CORE__LOAD_EXAMPLES"]).lower() == "false"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("simple_auth_manager.SimpleAuthManager")
    assert env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Asia/Tokyo"
    assert str(env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"]).lower() == "true"
    for secret in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
        assert env[secret], secret
        values = {services[s]["environment"][secret] for s in AIRFLOW_SERVICES}
        assert len(values) == 1, f"{secret} must be identical in every Airflow component"
    ports = services["airflow-apiserver"]["ports"]
    assert any(str(p).endswith(":8080") for p in ports)
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-worker"]["command"] == "celery worker"


def test_secrets_are_required_not_defaulted(raw_text):
    refs = referenced_variables(raw_text)
    for name in (
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "_AIRFLOW_WWW_USER_PASSWORD",
    ):
        assert refs.get(name) == ":?", f"{name} should be ${{{name}:?...}} in docker-compose.yaml"
    with pytest.raises(MissingVariable):
        interpolate(yaml.safe_load(raw_text), {})


def test_env_example_documents_every_variable(raw_text, example_env):
    refs = referenced_variables(raw_text)
    undocumented = {n for n, op in refs.items() if op in (None, ":?", "?")} - set(example_env)
    assert not undocumented, f"variables without default missing from docker/.env.example: {undocumented}"
    unused = set(example_env) - set(refs)
    assert not unused, f"docker/.env.example sets variables docker-compose.yaml never reads: {unused}"
    placeholders = [k for k, v in example_env.items() if "change-me" in v]
    assert {"AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "_AIRFLOW_WWW_USER_PASSWORD"} <= set(
        placeholders
    )


def test_tsunagu_settings(services, raw):
    env = services["airflow-worker"]["environment"]
    assert env["TSUNAGU_HOME"] == "/opt/tsunagu/var"
    assert re.fullmatch(r"postgresql\+psycopg://[^@]+@postgres(:5432)?/tsunagu", env["TSUNAGU_DB_URL"])
    assert env["TSUNAGU_INCLUDE"] == "/opt/airflow/include"
    assert env["TSUNAGU_LANDING"].startswith("/")
    assert env["TSUNAGU_PUBLISH_DIR"].startswith("/")
    assert env["AIRFLOW_CONN_SMTP_DEFAULT"].startswith("smtp://")
    # TSUNAGU_HOME is a named volume; landing/published are mounted; dev mounts of dags/plugins/include.
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["airflow-worker"]["volumes"]}
    assert mounts["/opt/tsunagu/var"] in raw["volumes"], "TSUNAGU_HOME must be a named volume"
    assert env["TSUNAGU_LANDING"] in mounts and env["TSUNAGU_PUBLISH_DIR"] in mounts
    for folder in ("dags", "plugins", "include"):
        assert mounts[f"/opt/airflow/{folder}"] == f"./{folder}"


def test_postgres_creates_the_warehouse_database(services):
    pg = services["postgres"]
    assert any(v.startswith("./docker/postgres-init:/docker-entrypoint-initdb.d") for v in pg["volumes"])
    assert pg["environment"]["POSTGRES_DB"] == "airflow"
    scripts = sorted(p for p in PG_INIT_DIR.iterdir() if p.suffix in {".sh", ".sql"})
    assert scripts, "docker/postgres-init/ has no init script"
    text = "\n".join(p.read_text(encoding="utf-8") for p in scripts)
    assert "CREATE DATABASE" in text and "tsunagu" in text
    for script in scripts:
        if script.suffix == ".sh":
            assert os.access(script, os.X_OK), f"{script.name} must be executable"
            assert subprocess.run(["bash", "-n", str(script)], timeout=30).returncode == 0


def test_airflow_init(services):
    init = services["airflow-init"]
    assert str(init["user"]) == "0:0"
    assert init.get("entrypoint") == "/bin/bash"
    script = init["command"][-1]
    assert "airflow db migrate" in script
    assert "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script
    assert "chown" in script
    assert subprocess.run(["bash", "-n"], input=script, text=True, timeout=30).returncode == 0
    users = init["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    assert re.fullmatch(r"[^:,]+:admin", users)


def test_image_matches_the_locked_airflow(raw, services, compose, lock_airflow_version):
    installed = metadata.version("apache-airflow")
    assert installed == lock_airflow_version, "the venv is not synced with uv.lock"
    raw_image = raw["x-airflow-common"]["image"]
    # Both the file's default tag and the one docker/.env.example sets carry the locked version.
    for image in (interpolate(raw_image, {}), services["airflow-scheduler"]["image"]):
        assert image.rsplit(":", 1)[1] == lock_airflow_version, f"image tag {image} != uv.lock {lock_airflow_version}"
    build = compose["x-airflow-common"]["build"]
    assert build["args"]["AIRFLOW_VERSION"] == lock_airflow_version
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(rf"^ARG AIRFLOW_VERSION={re.escape(lock_airflow_version)}$", dockerfile, re.M)
    assert re.search(r"^ARG PYTHON_VERSION=3\.11$", dockerfile, re.M)
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert froms[-1] == "apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}"


def test_dockerfile_installs_from_the_lock():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^COPY .*\buv\.lock\b", text, re.M)
    assert re.search(r"uv export --frozen --no-dev", text)
    final = text[text.rindex("\nFROM ") :]
    before_install = final[: re.search(r"^RUN pip install", final, re.M).start()]
    users = re.findall(r"^USER\s+(\S+)", before_install, re.M)
    assert users and users[-1] == "airflow", "pip install must run as the airflow user"
    assert re.search(r"pip install [^\n]*-r \S*requirements\.txt", final)
    assert "--no-deps" in final, "the project wheel must not re-resolve dependencies"
    for folder in ("dags", "plugins", "include"):
        assert re.search(rf"^COPY .*/{folder}/ /opt/airflow/{folder}/$", final, re.M), folder
    assert "src/" in text


def test_dockerignore_keeps_the_context_small_and_complete():
    lines = [ln.strip() for ln in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    assert "*" in lines, "use an allow-list"
    for needed in ("pyproject.toml", "uv.lock", "README.md", "src/", "dags/", "plugins/", "include/"):
        assert f"!{needed}" in lines, needed
    assert "**/.env" in lines
