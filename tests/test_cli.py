"""The `promlab` command and the project's two commands."""

from pathlib import Path

from click.testing import CliRunner

from promlab.cli import main
from promlab.paths import ROOT


def test_status_of_a_stack_that_never_ran_shows_every_service_stopped(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["--name", "never-started", "status"], env={"PROMLAB_HOME": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("STOPPED") == 8


def test_logs_rejects_an_unknown_service_with_the_choices(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["logs", "grafana"], env={"PROMLAB_HOME": str(tmp_path)})
    assert result.exit_code == 2
    assert "prometheus" in result.output


def test_down_of_a_stack_that_never_ran_is_harmless(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["--name", "nothing", "down"], env={"PROMLAB_HOME": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output


def test_traffic_without_a_running_stack_fails_and_says_how_to_start_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["traffic", "--duration", "1"], env={"PROMLAB_HOME": str(tmp_path)}
    )
    assert result.exit_code == 1
    assert "is not running" in result.output and "promlab up" in result.output


def test_a_port_variable_that_is_no_port_is_one_clear_error(tmp_path: Path) -> None:
    env = {"PROMLAB_HOME": str(tmp_path), "PROMLAB_PORT_PROMETHEUS": "abc"}
    result = CliRunner().invoke(main, ["status"], env=env)
    assert result.exit_code == 1
    assert "Error: PROMLAB_PORT_PROMETHEUS='abc' is not a port number" in result.output
    assert "Traceback" not in result.output


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make lab" in readme and "make test" in readme
    assert ci.strip().splitlines()[-1] == "make test"
    makefile = (ROOT / "Makefile").read_text()
    assert "\nlab:" in makefile and "\ntest:" in makefile
