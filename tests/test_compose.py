"""The Docker path, checked without a Docker engine: file, policy, parsing, errors."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from promlab import compose, grafana, panels
from promlab.errors import ServiceNotReadyError
from promlab.paths import CONFIGS, ROOT
from promlab.stack import JOBS, LocalStack, Stack, choose_backend

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def compose_cli() -> list[str]:
    """Return a compose command that can validate files, or fail saying what to install."""
    try:
        return compose.cli()
    except compose.DockerUnavailableError:
        pytest.fail(
            "docker-compose is missing: `make test` installs it (apt-get install "
            "docker-compose), or run scripts/install.sh"
        )


def test_compose_file_validates_with_compose_itself(tmp_path: Path) -> None:
    # A copy, so the secret files compose insists on are made outside the checkout.
    for name in ("docker-compose.yml", "docker-compose.linux.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for entry in COMPOSE["secrets"].values():
        target = tmp_path / entry["file"].replace(
            "${PROMLAB_COMPOSE_DIR:-./.run/compose}", ".run/compose"
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("placeholder")
    for files in (["docker-compose.yml"], ["docker-compose.yml", "docker-compose.linux.yml"]):
        args = [a for f in files for a in ("--file", f)]
        done = subprocess.run(
            [*compose_cli(), *args, "config", "--quiet"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_is_pinned_healthchecked_and_on_loopback(name: str) -> None:
    service = SERVICES[name]
    image = service["image"]
    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
    assert "healthcheck" in service, f"{name} has no healthcheck"
    for port in service.get("ports", []):
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    for dependency in (service.get("depends_on") or {}).values():
        assert dependency == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_service_holds_a_secret_inline(name: str) -> None:
    environment = SERVICES[name].get("environment", {})
    for key, value in environment.items():
        if any(word in key for word in ("PASSWORD", "SECRET", "TOKEN", "DATABASE_URL")):
            assert key.endswith("_FILE") or key.endswith("__FILE"), f"{name}: {key}={value}"
        assert "hooks.slack.com" not in str(value)


def test_data_lives_in_named_volumes() -> None:
    for name in ("db", "prometheus", "alertmanager", "grafana"):
        mounts = [str(v) for v in SERVICES[name]["volumes"]]
        data = [m for m in mounts if not m.startswith((".", "$"))]
        assert data, f"{name} keeps no data in a named volume"
        assert all(m.split(":")[0] in COMPOSE["volumes"] for m in data)


def test_default_node_exporter_runs_on_docker_desktop_too() -> None:
    node = SERVICES["node-exporter"]
    assert "network_mode" not in node
    assert "pid" not in node
    assert "rslave" not in json.dumps(node)
    linux = yaml.safe_load((ROOT / "docker-compose.linux.yml").read_text())
    assert "rslave" in json.dumps(linux["services"]["node-exporter"])


def test_prometheus_can_be_reloaded_and_mounts_the_shared_rules() -> None:
    prometheus = SERVICES["prometheus"]
    assert "--web.enable-lifecycle" in prometheus["command"]
    rules = "${PROMLAB_COMPOSE_RULES:-./configs/prometheus/rules}:/etc/prometheus/rules:ro"
    assert rules in prometheus["volumes"]


def test_grafana_has_no_default_admin_password() -> None:
    environment = SERVICES["grafana"]["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in environment
    assert environment["GF_SECURITY_ADMIN_PASSWORD__FILE"].startswith("/run/secrets/")


def test_generated_dashboards_are_up_to_date() -> None:
    folder = ROOT / "configs" / "grafana" / "dashboards"
    committed = {p.name: p.read_text() for p in folder.glob("*.json")}
    assert committed == grafana.render_all(), "run: .venv/bin/python -m promlab.grafana"


def test_every_dashboard_panel_queries_prometheus() -> None:
    for path in (ROOT / "configs" / "grafana" / "dashboards").glob("*.json"):
        board = json.loads(path.read_text())
        assert board["panels"], path.name
        for panel in board["panels"]:
            assert panel["targets"] and all(t["expr"] for t in panel["targets"])


@pytest.mark.stack
def test_every_panel_query_parses_in_prometheus(stack: Stack) -> None:
    for expr in panels.expressions():
        answer = requests.get(
            f"{stack.url('prometheus')}/api/v1/query", params={"query": expr}, timeout=10
        )
        assert answer.status_code == 200, f"{expr}: {answer.text}"


def test_container_states_are_parsed_from_docker_inspect() -> None:
    inspected = [
        {
            "Config": {"Labels": {"com.docker.compose.service": "db"}},
            "State": {"Status": "running", "Pid": 42, "Health": {"Status": "healthy"}},
        },
        {
            "Config": {"Labels": {"com.docker.compose.service": "api"}},
            "State": {"Status": "running", "Pid": 43, "Health": {"Status": "starting"}},
        },
        {
            "Config": {"Labels": {"com.docker.compose.service": "web"}},
            "State": {"Status": "exited", "Pid": 0},
        },
        {"Config": {"Labels": {}}, "State": {"Status": "running"}},
    ]
    rows = compose.parse_containers(inspected)
    assert sorted(rows) == ["api", "db", "web"]
    assert compose.state_name(rows["db"]) == "RUNNING"
    assert compose.state_name(rows["api"]) == "STARTING"
    assert compose.state_name(rows["web"]) == "EXITED"
    assert compose.state_name(None) == "STOPPED"


def test_compose_commands_name_the_project_and_file() -> None:
    if not (shutil.which("docker") or shutil.which("docker-compose")):
        pytest.skip("no compose CLI installed to build commands for")
    line = compose.command("up", "--detach")
    assert line[-2:] == ["up", "--detach"]
    assert "--project-name" in line and "promlab" in line
    assert str(ROOT / "docker-compose.yml") in line


@pytest.mark.skipif(not compose.engine_error(), reason="a Docker engine runs here")
def test_asking_for_docker_without_an_engine_says_how_to_go_local() -> None:
    with pytest.raises(compose.DockerUnavailableError) as caught:
        compose.require_engine()
    assert "local backend" in str(caught.value)
    assert "PROMLAB_BACKEND" in str(caught.value)


def test_container_secrets_are_generated_once_and_urls_follow_the_inbox(tmp_path: Path) -> None:
    learner = tmp_path / "learner"
    learner.mkdir()
    (learner / "slack_oncall_url").write_text("http://127.0.0.1:8082/hooks/oncall\n")
    names = ["slack_oncall_url"]
    first = compose.write_secrets(tmp_path / "s", learner, names)
    again = compose.write_secrets(tmp_path / "s", learner, names)
    assert first == again
    assert (tmp_path / "s" / "slack_oncall_url").read_text() == "http://inbox:8082/hooks/oncall\n"
    url = (tmp_path / "s" / "api_database_url").read_text()
    assert url.startswith("postgresql://promlab_app:") and "%40%21%3A@db:5432" in url


def test_stack_picks_its_class_from_the_backend(monkeypatch) -> None:
    assert isinstance(Stack(backend="compose"), compose.ComposeStack)
    assert isinstance(Stack(backend="local"), LocalStack)
    monkeypatch.setenv("PROMLAB_BACKEND", "compose")
    chosen = Stack()
    assert isinstance(chosen, compose.ComposeStack) and isinstance(chosen, Stack)
    monkeypatch.setenv("PROMLAB_BACKEND", "kubernetes")
    with pytest.raises(ValueError, match="local, compose"):
        Stack()


@pytest.mark.skipif(not compose.engine_error(), reason="a Docker engine runs here")
def test_without_an_engine_auto_chooses_the_local_backend(monkeypatch) -> None:
    monkeypatch.delenv("PROMLAB_BACKEND")
    assert choose_backend() == "local"


@pytest.mark.skipif(not compose.engine_error(), reason="a Docker engine runs here")
def test_compose_up_without_an_engine_says_so_and_down_is_harmless(tmp_path) -> None:
    stack = Stack(backend="compose", run_dir=tmp_path / "compose")
    with pytest.raises(compose.DockerUnavailableError, match="local backend"):
        stack.up()
    stack.down()
    stack.down()
    assert not stack.is_running()
    assert set(stack.status()["state"]) == {"STOPPED"}


def test_compose_refuses_ports_it_cannot_publish() -> None:
    with pytest.raises(ValueError, match=r"docker-compose\.yml"):
        Stack(backend="compose", ports={"prometheus": 9999})


class FakeEngine:
    """Stands in for the compose CLI: records commands, reports container states."""

    def __init__(self, states: dict[str, dict]) -> None:
        self.commands: list[tuple[str, ...]] = []
        self.states = states

    def run(self, *args: str, env: dict | None = None, timeout: float = 0) -> str:
        self.commands.append(args)
        return "some log line\n" if args[0] == "logs" else ""

    def containers(self, env: dict | None = None) -> dict[str, dict]:
        return self.states


def healthy() -> dict[str, dict]:
    """Return every compose service running and healthy."""
    row = {"state": "running", "health": "healthy", "pid": 7, "started": "now"}
    return {service: dict(row) for service in compose.SERVICE_NAMES.values()}


@pytest.fixture
def fake_engine(monkeypatch, tmp_path) -> FakeEngine:
    """Replace the engine-facing calls of the compose backend with a FakeEngine."""
    engine = FakeEngine(healthy())
    monkeypatch.setattr(compose, "require_engine", lambda: None)
    monkeypatch.setattr(compose, "engine_error", lambda: "")
    monkeypatch.setattr(compose, "run", engine.run)
    monkeypatch.setattr(compose, "containers", engine.containers)
    monkeypatch.setattr(compose.ComposeStack, "wait_targets_up", lambda self: None)
    monkeypatch.setattr(compose, "SECRETS", tmp_path / "learner-secrets")
    return engine


def test_compose_up_builds_starts_and_renders_for_the_container_network(
    fake_engine: FakeEngine, tmp_path: Path
) -> None:
    stack = Stack(backend="compose", run_dir=tmp_path / "compose").up()
    assert fake_engine.commands == [("up", "--detach", "--build", "--remove-orphans")]
    prom = yaml.safe_load((tmp_path / "compose/config/prometheus.yml").read_text())
    by_job = {s["job_name"]: s["static_configs"][0]["targets"] for s in prom["scrape_configs"]}
    assert by_job["api"] == ["api:8081"]
    assert by_job["postgres"] == ["db-exporter:9187"]
    am = yaml.safe_load((tmp_path / "compose/config/alertmanager.yml").read_text())
    files = [c["api_url_file"] for r in am["receivers"] for c in r.get("slack_configs", [])]
    assert files and all(f.startswith("/run/secrets/") for f in files)
    assert (
        (tmp_path / "compose/secrets/slack_oncall_url").read_text().startswith("http://inbox:8082/")
    )
    assert stack.url("grafana") == "http://127.0.0.1:3000"
    assert set(stack.status()["state"]) == {"RUNNING"}


def test_compose_container_that_exits_is_reported_with_its_log_and_stopped(
    fake_engine: FakeEngine, tmp_path: Path
) -> None:
    fake_engine.states["alertmanager"] = {"state": "exited", "health": "", "pid": 0, "started": ""}
    with pytest.raises(ServiceNotReadyError) as caught:
        Stack(backend="compose", run_dir=tmp_path / "compose").up()
    assert caught.value.service == "alertmanager"
    assert "some log line" in caught.value.log_tail
    assert fake_engine.commands[-1][0] == "down"


def test_both_backends_render_the_same_files_but_for_addresses_and_paths(
    fake_engine: FakeEngine, tmp_path: Path
) -> None:
    local = Stack(backend="local", run_dir=tmp_path / "local", ports="auto")
    local._write_configs()
    Stack(backend="compose", run_dir=tmp_path / "compose")._write_configs()
    differ = {"targets", "rule_files", "api_url_file", "templates"}
    for name in ("prometheus.yml", "alertmanager.yml"):
        one = yaml.safe_load((tmp_path / "local/config" / name).read_text())
        two = yaml.safe_load((tmp_path / "compose/config" / name).read_text())
        assert strip_keys(one, differ) == strip_keys(two, differ), name
        assert one != two


def strip_keys(value: object, keys: set[str]) -> object:
    """Return `value` with every mapping entry named in `keys` removed, recursively."""
    if isinstance(value, dict):
        return {k: strip_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [strip_keys(v, keys) for v in value]
    return value


def test_compose_rule_edits_are_checked_against_the_container_globs(
    fake_engine: FakeEngine, tmp_path: Path
) -> None:
    """A rule file the container's rule_files load is accepted; others are refused."""
    from promlab import rules

    rules_dir = tmp_path / "rules"
    shutil.copytree(CONFIGS / "prometheus" / "rules", rules_dir)
    stack = Stack(backend="compose", run_dir=tmp_path / "compose", rules_dir=rules_dir)
    stack._write_configs()
    assert rules.rule_globs(stack)[0].startswith(str(compose.CONTAINER_RULES))
    assert rules.check_location(stack, "cache.alerts.yml") == rules_dir / "cache.alerts.yml"
    for outside in ("cache.yaml", "sub/cache.yml"):
        with pytest.raises(rules.RuleError, match="outside the rule_files globs"):
            rules.check_location(stack, outside)


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.skipif(
    bool(compose.engine_error()), reason=f"needs a Docker engine: {compose.engine_error()}"
)
def test_compose_stack_runs_on_a_real_engine_and_scrapes_every_job(tmp_path: Path) -> None:
    """The whole Docker path, end to end: build, start, scrape, Grafana, stop."""
    stack = Stack(backend="compose", run_dir=tmp_path / "compose", deadline=900)
    try:
        stack.up()
        targets = stack.targets()
        assert set(targets["job"]) == set(JOBS.values())
        assert (targets["health"] == "up").all()
        assert requests.get(stack.url("grafana") + "/api/health", timeout=10).ok
    finally:
        stack.down(purge=True)
    assert not stack.is_running()
