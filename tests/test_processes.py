"""supervisord configuration: values survive its % expansion and quoting."""

from configparser import RawConfigParser
from pathlib import Path

from promlab.processes import Program, Supervisor


def test_percent_and_quotes_in_values_survive_the_config(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    dsn = "postgresql://u:p%40%21%3A@127.0.0.1:5433/db"
    sup.write_config([Program("api", ["gunicorn", "x:y()"], env={"DSN": dsn, "Q": 'a"b'})])
    parser = RawConfigParser()
    parser.read(sup.conf)
    env = parser["program:api"]["environment"]
    assert 'DSN="postgresql://u:p%%40%%21%%3A@127.0.0.1:5433/db"' in env
    assert 'Q="a\\"b"' in env
    assert parser["program:api"]["autostart"] == "false"


def test_config_file_is_private(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    sup.write_config([Program("web", ["true"])])
    assert sup.conf.stat().st_mode & 0o777 == 0o600


def test_long_run_directory_gets_a_short_socket_path(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d" * 20] * 6)
    assert len(str(Supervisor(deep).socket)) <= 100


def test_nothing_running_means_down_and_reap_are_harmless(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    assert not sup.is_running()
    sup.shutdown()
    assert sup.reap() == []
